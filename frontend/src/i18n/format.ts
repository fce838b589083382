/** Dates and times in the client's time zone, with the zone shown. */

// dateStyle/timeStyle cannot be combined with timeZoneName, so the parts are named.
const DATE_TIME: Intl.DateTimeFormatOptions = {
  day: 'numeric',
  month: 'short',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  timeZoneName: 'short',
}
const TIME: Intl.DateTimeFormatOptions = { hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }

export function formatDateTime(value: string | null | undefined, timeZone: string, language: string): string {
  if (!value) return ''
  return new Intl.DateTimeFormat(language, { ...DATE_TIME, timeZone }).format(new Date(value))
}

export function formatTime(value: string, timeZone: string, language: string): string {
  return new Intl.DateTimeFormat(language, { ...TIME, timeZone }).format(new Date(value))
}
