/** The SLA countdown shown on each queue item. */

export type Urgency = 'ok' | 'soon' | 'overdue'

export interface Countdown {
  /** Whole minutes left (negative: overdue by that many). */
  minutes: number
  urgency: Urgency
  /** "2 h 05 min", "45 min", "< 1 min": the magnitude, without the sign. */
  label: string
}

const SOON_MINUTES = 30

export function countdown(dueAt: string, now: number): Countdown {
  const ms = Date.parse(dueAt) - now
  const overdue = ms < 0
  const minutes = overdue ? -Math.ceil(-ms / 60_000) : Math.floor(ms / 60_000)
  const magnitude = Math.abs(minutes)
  const urgency: Urgency = overdue ? 'overdue' : minutes < SOON_MINUTES ? 'soon' : 'ok'
  return { minutes, urgency, label: formatMinutes(magnitude, ms) }
}

function formatMinutes(magnitude: number, ms: number): string {
  if (magnitude === 0 || Math.abs(ms) < 60_000) return '< 1 min'
  const days = Math.floor(magnitude / 1440)
  const hours = Math.floor((magnitude % 1440) / 60)
  const minutes = magnitude % 60
  if (days > 0) return `${days} d ${hours} h`
  if (hours > 0) return `${hours} h ${String(minutes).padStart(2, '0')} min`
  return `${minutes} min`
}
