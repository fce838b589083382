/** The live feed's messages (README "Live updates"), as the server sends them. */

export interface LiveEvent {
  type: 'event'
  id: number
  event: string
  clientId: string | null
  subjectType: string | null
  subjectId: string | null
  at: string
  version?: number | null
  status?: string | null
  severity?: string | null
  slaDueAt?: string | null
}

export type LiveMessage =
  | { type: 'ready'; lastEventId: number }
  | LiveEvent
  | { type: 'reload' }
  | { type: 'ping' }
  | { type: 'presence'; [key: string]: unknown }
  | { type: 'error'; status?: number; detail?: string }

export function parseLiveMessage(data: string): LiveMessage | null {
  try {
    const message = JSON.parse(data) as { type?: unknown }
    return typeof message.type === 'string' ? (message as LiveMessage) : null
  } catch {
    return null
  }
}
