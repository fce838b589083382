import { describe, expect, it } from 'vitest'
import { formatDateTime, formatTime } from '../src/i18n/format'

describe('dates in the client time zone', () => {
  it('shows the zone with the time', () => {
    const text = formatDateTime('2026-12-07T09:30:00Z', 'Europe/Berlin', 'de')
    expect(text).toContain('10:30')
    expect(text).toMatch(/MEZ|GMT\+1|CET/)
  })

  it('formats a time alone in English', () => {
    expect(formatTime('2026-12-07T09:30:00Z', 'Europe/Vienna', 'en')).toMatch(/10:30/)
  })

  it('is empty for no value', () => {
    expect(formatDateTime(null, 'UTC', 'en')).toBe('')
  })
})
