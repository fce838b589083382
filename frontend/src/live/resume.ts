/**
 * What the live client remembers across reconnects: the last event id it handed on,
 * so the next connection resumes after it and nothing is shown twice.
 */
import type { LiveEvent } from './events'

export class ResumePoint {
  private last: number | null

  constructor(last: number | null = null) {
    this.last = last
  }

  /** The id to resume after, or null on the very first connection. */
  get lastEventId(): number | null {
    return this.last
  }

  /**
   * True when the event is new and should be handed on; false for an id already
   * seen (a replay overlapping what the previous connection delivered).
   */
  accept(event: LiveEvent): boolean {
    if (this.last !== null && event.id <= this.last) return false
    this.last = event.id
    return true
  }

  /** The server's high-water mark when the first connection is ready. */
  start(lastEventId: number): void {
    if (this.last === null) this.last = lastEventId
  }

  /** After a "reload": everything is refetched, continue from the server's mark. */
  reset(lastEventId: number | null): void {
    this.last = lastEventId
  }
}

/** The WebSocket URL of the feed, resuming after ``lastEventId`` when known. */
export function liveUrl(location: Pick<Location, 'protocol' | 'host'>, lastEventId: number | null): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  const query = lastEventId === null ? '' : `?last_event_id=${lastEventId}`
  return `${scheme}//${location.host}/api/v1/live${query}`
}

/** Reconnect delay: 0.5 s doubling to 15 s, with jitter so clients do not return together. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(15_000, 500 * 2 ** Math.min(attempt, 10))
  return Math.round(base / 2 + (random() * base) / 2)
}
