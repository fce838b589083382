import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LiveEvent } from '../src/live/events'
import { LiveFeed, type FeedState } from '../src/live/feed'
import { backoffMs, liveUrl } from '../src/live/resume'

/** A stand-in for the browser's WebSocket: it records the URL and lets the test speak. */
class FakeSocket {
  onmessage: ((message: { data: string }) => void) | null = null
  onclose: ((close: { code: number }) => void) | null = null
  closed = false
  readonly url: string
  constructor(url: string) {
    this.url = url
  }
  send(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) })
  }
  drop(code: number): void {
    this.onclose?.({ code })
  }
  close(): void {
    this.closed = true
  }
}

function liveEvent(id: number): LiveEvent {
  return { type: 'event', id, event: 'draft.submitted', clientId: 'c', subjectType: 'draft', subjectId: 'd', at: '' }
}

describe('live feed', () => {
  let sockets: FakeSocket[]
  let received: number[]
  let states: FeedState[]
  let reloads: number
  let signedOut: boolean
  let feed: LiveFeed

  beforeEach(() => {
    vi.useFakeTimers()
    sockets = []
    received = []
    states = []
    reloads = 0
    signedOut = false
    feed = new LiveFeed(
      {
        onEvent: (e) => received.push(e.id),
        onReload: () => reloads++,
        onState: (s) => states.push(s),
        onSignedOut: () => (signedOut = true),
      },
      { protocol: 'https:', host: 'app.example' },
      (url) => {
        const socket = new FakeSocket(url)
        sockets.push(socket)
        return socket as unknown as WebSocket
      },
    )
  })

  afterEach(() => {
    feed.stop()
    vi.useRealTimers()
  })

  it('resumes after the last event it handed on and drops what it saw before', () => {
    feed.start()
    expect(sockets[0].url).toBe('wss://app.example/api/v1/live')
    sockets[0].send({ type: 'ready', lastEventId: 10 })
    sockets[0].send(liveEvent(11))
    sockets[0].send(liveEvent(12))
    sockets[0].drop(1006)
    expect(states.at(-1)).toBe('offline')
    vi.advanceTimersByTime(20_000)
    expect(sockets[1].url).toBe('wss://app.example/api/v1/live?last_event_id=12')
    // The replay overlaps: 12 again, then new ones.
    sockets[1].send({ type: 'ready', lastEventId: 14 })
    sockets[1].send(liveEvent(12))
    sockets[1].send(liveEvent(13))
    sockets[1].send(liveEvent(14))
    expect(received).toEqual([11, 12, 13, 14])
    expect(states.at(-1)).toBe('online')
  })

  it('asks for a reload when the server says too much was missed', () => {
    feed.start()
    sockets[0].send({ type: 'ready', lastEventId: 5 })
    sockets[0].send({ type: 'reload' })
    expect(reloads).toBe(1)
  })

  it('stops and signs out on 4401, and does not reconnect', () => {
    feed.start()
    sockets[0].drop(4401)
    vi.advanceTimersByTime(60_000)
    expect(signedOut).toBe(true)
    expect(sockets).toHaveLength(1)
  })

  it('backs off between attempts, up to 15 seconds', () => {
    expect(backoffMs(0, () => 0)).toBe(250)
    expect(backoffMs(3, () => 1)).toBe(4000)
    expect(backoffMs(20, () => 1)).toBe(15_000)
  })

  it('uses ws: on plain http', () => {
    expect(liveUrl({ protocol: 'http:', host: '127.0.0.1:8000' }, 7)).toBe('ws://127.0.0.1:8000/api/v1/live?last_event_id=7')
  })
})
