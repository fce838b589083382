import { describe, expect, it } from 'vitest'
import { countdown } from '../src/queue/countdown'

const NOW = Date.parse('2026-12-07T09:00:00Z')

describe('SLA countdown', () => {
  it('shows hours and minutes while there is time', () => {
    expect(countdown('2026-12-07T11:05:30Z', NOW)).toEqual({ minutes: 125, urgency: 'ok', label: '2 h 05 min' })
  })

  it('is urgent in the last half hour', () => {
    expect(countdown('2026-12-07T09:29:00Z', NOW)).toMatchObject({ minutes: 29, urgency: 'soon', label: '29 min' })
  })

  it('counts overdue minutes as negative', () => {
    expect(countdown('2026-12-07T08:50:00Z', NOW)).toMatchObject({ minutes: -10, urgency: 'overdue', label: '10 min' })
  })

  it('says less than a minute at the edge', () => {
    expect(countdown('2026-12-07T09:00:20Z', NOW).label).toBe('< 1 min')
    expect(countdown('2026-12-07T08:59:40Z', NOW)).toMatchObject({ urgency: 'overdue', label: '< 1 min' })
  })

  it('shows days for long targets', () => {
    expect(countdown('2026-12-09T12:00:00Z', NOW).label).toBe('2 d 3 h')
  })
})
