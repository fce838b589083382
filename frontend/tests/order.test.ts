import { describe, expect, it } from 'vitest'
import type { LiveEvent } from '../src/live/events'
import { compareQueueItems, mergeLiveEvent, type Orderable } from '../src/queue/order'

const CLIENT = 'c1'

function item(id: string, slaDueAt: string | null, severity = 'normal', version = 2): Orderable {
  return { id, slaDueAt, severity, version, status: 'pending', submittedAt: '2026-12-07T08:00:00Z' }
}

function event(subjectId: string, status: string, version: number, extra: Partial<LiveEvent> = {}): LiveEvent {
  return {
    type: 'event',
    id: 100,
    event: `draft.${status}`,
    clientId: CLIENT,
    subjectType: 'draft',
    subjectId,
    at: '2026-12-07T09:00:00Z',
    version,
    status,
    ...extra,
  }
}

describe('queue order', () => {
  it('puts the soonest SLA first, then severity, then age, items without SLA last', () => {
    const items = [
      item('d', null),
      item('c', '2026-12-07T12:00:00Z', 'normal'),
      item('b', '2026-12-07T12:00:00Z', 'crisis'),
      item('a', '2026-12-07T10:00:00Z'),
    ]
    expect([...items].sort(compareQueueItems).map((i) => i.id)).toEqual(['a', 'b', 'c', 'd'])
  })
})

describe('merging live events', () => {
  const queue = [item('a', '2026-12-07T10:00:00Z'), item('b', '2026-12-07T11:00:00Z')]

  it('removes a draft that was decided', () => {
    const merged = mergeLiveEvent(queue, event('a', 'approved', 3), CLIENT)
    expect(merged.items.map((i) => i.id)).toEqual(['b'])
    expect(merged.refetch).toBe(false)
  })

  it('keeps the very objects of the items it did not touch (so their cards do not render again)', () => {
    const merged = mergeLiveEvent(queue, event('a', 'approved', 3), CLIENT)
    expect(merged.items[0]).toBe(queue[1])
    const updated = mergeLiveEvent(queue, event('a', 'pending', 3, { event: 'draft.approval_recorded' }), CLIENT)
    expect(updated.items.find((i) => i.id === 'b')).toBe(queue[1])
    expect(updated.items.find((i) => i.id === 'a')).not.toBe(queue[0])
  })

  it('asks to refetch for a draft that entered the queue', () => {
    const merged = mergeLiveEvent(queue, event('new', 'pending', 2, { event: 'draft.submitted' }), CLIENT)
    expect(merged.items).toHaveLength(2)
    expect(merged.refetch).toBe(true)
  })

  it('re-sorts a draft whose deadline came closer', () => {
    const merged = mergeLiveEvent(
      queue,
      event('b', 'pending', 3, { event: 'draft.severity_changed', severity: 'crisis', slaDueAt: '2026-12-07T09:30:00Z' }),
      CLIENT,
    )
    expect(merged.items.map((i) => i.id)).toEqual(['b', 'a'])
    expect(merged.items[0].severity).toBe('crisis')
    expect(merged.refetch).toBe(false)
  })

  it('ignores an event older than what is shown, and another client\'s events', () => {
    expect(mergeLiveEvent(queue, event('a', 'approved', 2), CLIENT).items).toHaveLength(2)
    expect(mergeLiveEvent(queue, event('a', 'approved', 3, { clientId: 'c2' }), CLIENT).items).toHaveLength(2)
  })

  it('refetches the text after a new revision of a shown draft', () => {
    const merged = mergeLiveEvent(queue, event('a', 'pending', 3, { event: 'draft.resubmitted' }), CLIENT)
    expect(merged.refetch).toBe(true)
  })

  it('never shows a draft twice, whatever the sequence', () => {
    let items = [...queue]
    const sequence = [
      event('a', 'pending', 3, { event: 'draft.approval_recorded' }),
      event('a', 'pending', 3, { event: 'draft.approval_recorded' }),
      event('a', 'approved', 4),
      event('a', 'approved', 4),
    ]
    for (const e of sequence) items = mergeLiveEvent(items, e, CLIENT).items
    expect(items.map((i) => i.id)).toEqual(['b'])
  })
})
