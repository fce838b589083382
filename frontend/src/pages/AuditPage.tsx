import { useInfiniteQuery } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { Link, useParams } from 'react-router'
import { api, ApiError, unwrap, type Problem, type Schemas } from '../api/client'
import { ErrorMessage } from '../components/ErrorMessage'
import { ClientNav } from '../components/ClientNav'
import { Loading } from '../components/Layout'
import { formatDateTime } from '../i18n/format'
import { useClient } from '../queue/data'

interface Filter {
  type?: string
  from?: string
  to?: string
}

/** ``datetime-local`` is the browser's local time; the API wants an offset. */
function isoOf(local: string): string | undefined {
  return local ? new Date(local).toISOString() : undefined
}

export function auditQuery(filter: Filter): Record<string, string> {
  const query: Record<string, string> = {}
  if (filter.type?.trim()) query.type = filter.type.trim()
  const from = filter.from && isoOf(filter.from)
  const to = filter.to && isoOf(filter.to)
  if (from) query.from = from
  if (to) query.to = to
  return query
}

/** The client's audit trail, newest first, filterable, with a CSV of every match. */
export function AuditPage() {
  const { clientId = '' } = useParams()
  const { t, i18n } = useTranslation()
  const client = useClient(clientId)
  const [draft, setDraft] = useState<Filter>({})
  const [filter, setFilter] = useState<Filter>({})
  const [csvError, setCsvError] = useState<unknown>(null)
  const events = useInfiniteQuery({
    queryKey: ['events', clientId, filter],
    initialPageParam: undefined as string | undefined,
    // JSON is asked for (the default); the document also lists the CSV variant.
    queryFn: async ({ pageParam }): Promise<Schemas['EventPage']> =>
      (await unwrap(
        api.GET('/api/v1/clients/{client_id}/events', {
          params: { path: { client_id: clientId }, query: { ...auditQuery(filter), limit: 100, cursor: pageParam } },
        }),
      )) as Schemas['EventPage'],
    getNextPageParam: (last) => last.nextCursor ?? undefined,
  })
  const zone = client.data?.timezone ?? 'UTC'

  function apply(event: FormEvent) {
    event.preventDefault()
    setFilter(draft)
  }

  async function downloadCsv() {
    setCsvError(null)
    const query = new URLSearchParams(auditQuery(filter))
    const response = await fetch(`/api/v1/clients/${clientId}/events?${query}`, {
      headers: { Accept: 'text/csv' },
      credentials: 'same-origin',
    })
    if (!response.ok) {
      setCsvError(new ApiError(response.status, (await response.json().catch(() => ({}))) as Problem))
      return
    }
    const url = URL.createObjectURL(await response.blob())
    const link = document.createElement('a')
    link.href = url
    link.download = `audit-${client.data?.slug ?? clientId}.csv`
    link.click()
    URL.revokeObjectURL(url)
  }

  return (
    <section>
      <h1>
        {t('audit.title')}
        {client.data && <span className="subtitle"> · {client.data.name}</span>}
      </h1>
      <ClientNav clientId={clientId} agencyId={client.data?.agencyId} />
      <form className="filters" onSubmit={apply} aria-label={t('audit.filter')}>
        <label>
          {t('audit.type')}
          <input value={draft.type ?? ''} placeholder="draft.*" onChange={(e) => setDraft({ ...draft, type: e.target.value })} />
        </label>
        <label>
          {t('audit.from')}
          <input type="datetime-local" value={draft.from ?? ''} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
        </label>
        <label>
          {t('audit.to')}
          <input type="datetime-local" value={draft.to ?? ''} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
        </label>
        <div className="actions">
          <button type="submit" className="primary">
            {t('audit.apply')}
          </button>
          <button type="button" onClick={() => void downloadCsv()}>
            {t('audit.csv')}
          </button>
        </div>
      </form>
      <ErrorMessage error={csvError} />
      <p className="muted">{t('time.zone', { zone })}</p>
      {events.isPending && <Loading />}
      <ErrorMessage error={events.error} />
      {events.data && (
        <div className="table-wrap">
          <table data-testid="audit">
            <thead>
              <tr>
                <th scope="col">{t('audit.when')}</th>
                <th scope="col">{t('audit.type')}</th>
                <th scope="col">{t('audit.actor')}</th>
                <th scope="col">{t('audit.subject')}</th>
              </tr>
            </thead>
            <tbody>
              {events.data.pages.flatMap((page) =>
                page.items.map((e) => (
                  <tr key={e.id}>
                    <td>{formatDateTime(e.createdAt, zone, i18n.language)}</td>
                    <td>
                      <code>{e.type}</code>
                    </td>
                    <td>{e.actorKind === 'system' ? t('audit.system') : t('audit.person')}</td>
                    <td>
                      {e.subjectType === 'draft' && e.subjectId ? (
                        <Link to={`/drafts/${e.subjectId}`}>{t('draft.title')}</Link>
                      ) : (
                        e.subjectType
                      )}
                    </td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </div>
      )}
      {events.hasNextPage && (
        <button type="button" onClick={() => void events.fetchNextPage()} disabled={events.isFetchingNextPage}>
          {t('queue.loadMore')}
        </button>
      )}
    </section>
  )
}
