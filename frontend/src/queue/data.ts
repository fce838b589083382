/** The queue's server state: the first page, kept current by the live feed. */
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { api, unwrap, type Schemas } from '../api/client'
import { useLiveEvents } from '../live/LiveProvider'
import { mergeLiveEvent } from './order'

export type QueueItem = Schemas['QueueItem']
export type QueuePage = Schemas['QueuePage']
export const PAGE_SIZE = 200
// A queue longer than this shows its first items and says how many there are.
export const MAX_ITEMS = 1000

export const queueKey = (clientId: string) => ['queue', clientId] as const

export function useQueue(clientId: string) {
  const queryClient = useQueryClient()
  const query = useQuery({
    queryKey: queueKey(clientId),
    queryFn: () => wholeQueue(clientId),
    // Structural sharing compares the old and new lists index by index, so after one
    // item leaves every later item would become a new object and every card would
    // render again. The live merge already keeps the objects that did not change.
    structuralSharing: false,
  })
  useLiveEvents((event) => {
    const page = queryClient.getQueryData<QueuePage>(queueKey(clientId))
    if (!page) return
    const merged = mergeLiveEvent(page.items, event, clientId)
    if (merged.items.length !== page.items.length || merged.items.some((item, i) => item !== page.items[i])) {
      const removed = page.items.length - merged.items.length
      queryClient.setQueryData<QueuePage>(queueKey(clientId), {
        ...page,
        items: merged.items,
        total: Math.max(0, page.total - Math.max(0, removed)),
      })
    }
    if (merged.refetch) void queryClient.invalidateQueries({ queryKey: queueKey(clientId) })
  })
  return query
}

export function useClient(clientId: string) {
  return useQuery({
    queryKey: ['client', clientId],
    queryFn: () => unwrap(api.GET('/api/v1/clients/{client_id}', { params: { path: { client_id: clientId } } })),
    staleTime: 300_000,
  })
}

export function useCrisis(clientId: string) {
  return useQuery({
    queryKey: ['crisis', clientId],
    queryFn: () => unwrap(api.GET('/api/v1/clients/{client_id}/crisis', { params: { path: { client_id: clientId } } })),
  })
}

export function useOnDuty(clientId: string) {
  return useQuery({
    queryKey: ['on-duty', clientId],
    queryFn: () =>
      unwrap(api.GET('/api/v1/clients/{client_id}/on-duty', { params: { path: { client_id: clientId } } })),
    refetchInterval: 300_000,
  })
}

export async function decide(
  item: Pick<QueueItem, 'id' | 'version' | 'currentRevisionId'>,
  decision: 'approve' | 'reject' | 'request_changes',
  comment: string,
  wording: number | null,
): Promise<Schemas['DraftOut']> {
  return unwrap(
    api.POST('/api/v1/drafts/{draft_id}/decisions', {
      params: { path: { draft_id: item.id } },
      body: {
        decision,
        version: item.version,
        comment,
        revisionId: item.currentRevisionId ?? undefined,
        wording: wording ?? undefined,
      },
    }),
  )
}

/** The queue's pages one after the other (keyset cursors), up to MAX_ITEMS items. */
async function wholeQueue(clientId: string): Promise<QueuePage> {
  let page = await queuePage(clientId)
  const items = [...page.items]
  while (page.nextCursor && items.length < MAX_ITEMS) {
    page = await queuePage(clientId, page.nextCursor)
    items.push(...page.items)
  }
  return { items, total: page.total, nextCursor: page.nextCursor }
}

function queuePage(clientId: string, cursor?: string): Promise<QueuePage> {
  return unwrap(
    api.GET('/api/v1/clients/{client_id}/queue', {
      params: { path: { client_id: clientId }, query: { limit: PAGE_SIZE, cursor } },
    }),
  )
}
