/** One live connection per signed-in tab; screens subscribe to its events. */
import { useQueryClient } from '@tanstack/react-query'
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react'
import type { LiveEvent } from './events'
import { LiveFeed, type FeedState } from './feed'

type Listener = (event: LiveEvent) => void

// Events whose step also wrote in-app notifications: the list is fetched again.
const NOTIFYING = ['draft.reminder_sent', 'draft.escalated', 'draft.fallback_', 'crisis.']

interface LiveContextValue {
  state: FeedState
  subscribe(listener: Listener): () => void
}

const LiveContext = createContext<LiveContextValue>({ state: 'offline', subscribe: () => () => {} })

/** ``userId``: the signed-in person (null: nobody, no connection). */
export function LiveProvider({
  children,
  userId,
  onSignedOut,
}: {
  children: ReactNode
  userId: string | null
  onSignedOut: () => void
}) {
  const queryClient = useQueryClient()
  const [state, setState] = useState<FeedState>('offline')
  const listeners = useRef(new Set<Listener>())
  const signedOut = useRef(onSignedOut)
  signedOut.current = onSignedOut

  useEffect(() => {
    if (!userId) {
      setState('offline')
      return
    }
    const feed = new LiveFeed({
      onEvent: (event) => {
        for (const listener of listeners.current) listener(event)
        if (event.subjectType === 'draft' && event.subjectId) {
          void queryClient.invalidateQueries({ queryKey: ['draft', event.subjectId] })
        }
        if (NOTIFYING.some((prefix) => event.event.startsWith(prefix))) {
          void queryClient.invalidateQueries({ queryKey: ['notifications'] })
        }
        if (event.event.startsWith('crisis.') && event.clientId) {
          void queryClient.invalidateQueries({ queryKey: ['crisis', event.clientId] })
        }
      },
      onReload: () => void queryClient.invalidateQueries(),
      onState: setState,
      onSignedOut: () => signedOut.current(),
    })
    feed.start()
    return () => feed.stop()
  }, [queryClient, userId])

  const value = useRef<LiveContextValue>({
    state,
    subscribe(listener) {
      listeners.current.add(listener)
      return () => listeners.current.delete(listener)
    },
  })
  value.current = { ...value.current, state }
  return <LiveContext.Provider value={value.current}>{children}</LiveContext.Provider>
}

export function useLiveState(): FeedState {
  return useContext(LiveContext).state
}

/** Call ``listener`` for every live event while the component is mounted. */
export function useLiveEvents(listener: Listener): void {
  const { subscribe } = useContext(LiveContext)
  const current = useRef(listener)
  current.current = listener
  useEffect(() => subscribe((event) => current.current(event)), [subscribe])
}
