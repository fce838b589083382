/**
 * The approval queue on the client: the server's order (soonest SLA first, then
 * severity, then age), and what a live event does to the list on screen.
 */
import type { LiveEvent } from '../live/events'

export interface Orderable {
  id: string
  severity: string
  slaDueAt?: string | null
  submittedAt?: string | null
  version: number
  status: string
}

const SEVERITY_ORDER: Record<string, number> = { crisis: 0, high: 1, normal: 2 }

function time(value: string | null | undefined): number {
  return value ? Date.parse(value) : Number.POSITIVE_INFINITY
}

export function compareQueueItems(a: Orderable, b: Orderable): number {
  return (
    time(a.slaDueAt) - time(b.slaDueAt) ||
    (SEVERITY_ORDER[a.severity] ?? 9) - (SEVERITY_ORDER[b.severity] ?? 9) ||
    time(a.submittedAt) - time(b.submittedAt) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  )
}

export interface Merge<T> {
  items: T[]
  /** The event names a pending draft this list does not show yet (or shows an older
   *  revision of): fetch the queue again to get its content. */
  refetch: boolean
}

/**
 * Apply one live event to the queue on screen: a draft that left ``pending`` leaves
 * the list at once; a pending one is updated in place and re-sorted, or, when it is
 * new, the caller refetches. Events for other clients or other subjects change
 * nothing. Never shows an item twice; an event older than the row (lower version)
 * is ignored.
 */
export function mergeLiveEvent<T extends Orderable>(
  items: readonly T[],
  event: LiveEvent,
  clientId: string,
): Merge<T> {
  if (event.clientId !== clientId || event.subjectType !== 'draft' || !event.subjectId) {
    return { items: [...items], refetch: false }
  }
  const index = items.findIndex((item) => item.id === event.subjectId)
  const current = index >= 0 ? items[index] : undefined
  if (current && event.version != null && event.version <= current.version) {
    return { items: [...items], refetch: false }
  }
  if (event.status !== 'pending') {
    if (!current) return { items: [...items], refetch: false }
    return { items: items.filter((_, i) => i !== index), refetch: false }
  }
  if (!current) return { items: [...items], refetch: true }
  const updated: T = {
    ...current,
    version: event.version ?? current.version,
    severity: event.severity ?? current.severity,
    slaDueAt: event.slaDueAt ?? current.slaDueAt,
  }
  const next = items.map((item, i) => (i === index ? updated : item)).sort(compareQueueItems)
  // A new revision changes the text on screen: fetch it.
  return { items: next, refetch: event.event === 'draft.resubmitted' }
}
