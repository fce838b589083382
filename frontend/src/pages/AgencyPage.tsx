import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useTranslation } from 'react-i18next'
import { Link, useParams } from 'react-router'
import { api, unwrap } from '../api/client'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { useLiveEvents } from '../live/LiveProvider'
import { useCrisis } from '../queue/data'

/** The agency's clients overview: queue depth, overdue items and crisis flag per client. */
export function AgencyPage() {
  const { agencyId = '' } = useParams()
  const { t } = useTranslation()
  const agency = useQuery({
    queryKey: ['agency', agencyId],
    queryFn: () => unwrap(api.GET('/api/v1/agencies/{agency_id}', { params: { path: { agency_id: agencyId } } })),
  })
  const clients = useQuery({
    queryKey: ['clients', agencyId],
    queryFn: () =>
      unwrap(api.GET('/api/v1/agencies/{agency_id}/clients', { params: { path: { agency_id: agencyId } } })),
  })
  if (clients.isPending) return <Loading />
  if (clients.error) return <ErrorMessage error={clients.error} />
  return (
    <section>
      <h1>
        {t('agency.clients')}
        {agency.data && <span className="subtitle"> · {agency.data.name}</span>}
      </h1>
      <ul className="cards">
        {clients.data.items.map((client) => (
          <li key={client.id} className="card">
            <strong>{client.name}</strong>
            <ClientSummary clientId={client.id} />
            <nav className="actions" aria-label={client.name}>
              <Link to={`/clients/${client.id}/inbox`}>{t('agency.inbox')}</Link>
              <Link to={`/clients/${client.id}/queue`}>{t('agency.queue')}</Link>
              <Link to={`/clients/${client.id}/compose`}>{t('agency.compose')}</Link>
            </nav>
          </li>
        ))}
      </ul>
    </section>
  )
}

function ClientSummary({ clientId }: { clientId: string }) {
  const { t } = useTranslation()
  const queryClient = useQueryClient()
  // Its own key: the queue screen's ['queue', id] holds the whole queue, this only the
  // first page (the soonest deadlines, so every overdue item up to 200 is in it).
  const queue = useQuery({
    queryKey: ['queue-summary', clientId],
    queryFn: () =>
      unwrap(api.GET('/api/v1/clients/{client_id}/queue', { params: { path: { client_id: clientId }, query: { limit: 200 } } })),
  })
  const crisis = useCrisis(clientId)
  useLiveEvents((event) => {
    if (event.clientId === clientId && event.subjectType === 'draft') {
      void queryClient.invalidateQueries({ queryKey: ['queue-summary', clientId] })
    }
  })
  if (!queue.data) return null
  const now = Date.now()
  const overdue = queue.data.items.filter((i) => i.slaDueAt && Date.parse(i.slaDueAt) < now).length
  return (
    <span className="muted">
      {queue.data.total} {t('agency.pending')}
      {overdue > 0 && <span className="due due-overdue"> · {t('agency.overdue', { count: overdue })}</span>}
      {crisis.data?.active && <span className="badge severity-crisis"> {t('severity.crisis')}</span>}
    </span>
  )
}
