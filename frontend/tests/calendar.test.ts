import { describe, expect, it } from 'vitest'
import { calendarDays, overlaps } from '../src/settings/RotaSection'

describe('the rota calendar', () => {
  it('has one entry per day from today', () => {
    const days = calendarDays(new Date(2026, 11, 6, 15, 30), 3)
    expect(days.map((d) => d.start.getDate())).toEqual([6, 7, 8])
    expect(days[0].start.getHours()).toBe(0)
  })

  it('shows a stand-in on every day it touches, and not on the day it ends at midnight', () => {
    const [first, second, third] = calendarDays(new Date(2026, 11, 6), 3)
    const start = new Date(2026, 11, 6, 18).toISOString()
    const end = new Date(2026, 11, 8, 0).toISOString()
    expect(overlaps(start, end, first)).toBe(true)
    expect(overlaps(start, end, second)).toBe(true)
    expect(overlaps(start, end, third)).toBe(false)
  })
})
