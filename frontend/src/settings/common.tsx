/** What the settings sections share: the client's people, the caller's role, saving. */
import { useQuery, useQueryClient, type QueryKey } from '@tanstack/react-query'
import { useState } from 'react'
import { api, unwrap } from '../api/client'
import { useMe } from '../auth/session'
import { roleAtClient } from '../auth/workspace'
import { useClient } from '../queue/data'

export const CLIENT_ROLES = ['client_admin', 'approver', 'executive', 'viewer'] as const

export function useMembers(clientId: string) {
  return useQuery({
    queryKey: ['members', clientId],
    queryFn: () =>
      unwrap(api.GET('/api/v1/clients/{client_id}/memberships', { params: { path: { client_id: clientId } } })),
  })
}

export function useRole(clientId: string): string | null {
  const me = useMe()
  const client = useClient(clientId)
  return roleAtClient(me.data?.memberships ?? [], clientId, client.data?.agencyId)
}

/** Run a change, remember its error, refetch ``keys`` afterwards either way. */
export function useSave(...keys: QueryKey[]) {
  const queryClient = useQueryClient()
  const [error, setError] = useState<unknown>(null)
  const [saved, setSaved] = useState(false)
  const [busy, setBusy] = useState(false)
  async function run<T>(call: () => Promise<T>): Promise<T | undefined> {
    setError(null)
    setSaved(false)
    setBusy(true)
    try {
      const result = await call()
      setSaved(true)
      return result
    } catch (failure) {
      setError(failure)
      return undefined
    } finally {
      setBusy(false)
      for (const key of keys) await queryClient.invalidateQueries({ queryKey: key })
    }
  }
  return { run, error, saved, busy }
}

/** ``datetime-local`` input value from an ISO time, in the browser's zone. */
export function localInput(iso: string | null | undefined): string {
  if (!iso) return ''
  const date = new Date(iso)
  const offset = date.getTimezoneOffset() * 60_000
  return new Date(date.getTime() - offset).toISOString().slice(0, 16)
}

export function isoFromLocal(local: string): string {
  return new Date(local).toISOString()
}
