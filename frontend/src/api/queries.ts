/** Server state more than one screen reads: one query key and one fetch each. */
import { useQuery } from '@tanstack/react-query'
import { api, unwrap } from './client'

export const draftKey = (draftId: string) => ['draft', draftId] as const

/** A draft with revisions, decisions, comments and timeline (live events refetch it). */
export function useDraft(draftId: string, enabled = true) {
  return useQuery({
    queryKey: draftKey(draftId),
    queryFn: () => unwrap(api.GET('/api/v1/drafts/{draft_id}', { params: { path: { draft_id: draftId } } })),
    enabled,
  })
}

export function useInbox(clientId: string, enabled = true) {
  return useQuery({
    queryKey: ['inbox', clientId],
    queryFn: () => unwrap(api.GET('/api/v1/clients/{client_id}/inbox', { params: { path: { client_id: clientId } } })),
    enabled,
  })
}

/** The holding statements the client approved (fallbacks, the composer's inserts). */
export function useApprovedTemplates(clientId: string) {
  return useQuery({
    queryKey: ['templates', clientId, 'approved'],
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/clients/{client_id}/templates', {
          params: { path: { client_id: clientId }, query: { status: 'approved' } },
        }),
      ),
  })
}
