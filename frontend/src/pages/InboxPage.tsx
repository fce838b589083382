import { useTranslation } from 'react-i18next'
import { Link, useParams } from 'react-router'
import { useInbox } from '../api/queries'
import { ErrorMessage } from '../components/ErrorMessage'
import { ClientNav } from '../components/ClientNav'
import { Loading } from '../components/Layout'
import { formatDateTime } from '../i18n/format'
import { useLiveEvents } from '../live/LiveProvider'
import { useClient } from '../queue/data'
import { useQueryClient } from '@tanstack/react-query'

const SEVERITY_RANK: Record<string, number> = { crisis: 0, high: 1, normal: 2 }

/** Inbound comments, mentions and messages, most severe first, then the newest. */
export function InboxPage() {
  const { clientId = '' } = useParams()
  const { t, i18n } = useTranslation()
  const queryClient = useQueryClient()
  const client = useClient(clientId)
  const inbox = useInbox(clientId)
  useLiveEvents((event) => {
    if (event.clientId === clientId && event.subjectType === 'inbound_item') {
      void queryClient.invalidateQueries({ queryKey: ['inbox', clientId] })
    }
  })
  if (inbox.isPending) return <Loading />
  if (inbox.error) return <ErrorMessage error={inbox.error} />
  const zone = client.data?.timezone ?? 'UTC'
  const items = [...inbox.data.items].sort(
    (a, b) => (SEVERITY_RANK[a.severity] ?? 9) - (SEVERITY_RANK[b.severity] ?? 9) || Date.parse(b.receivedAt) - Date.parse(a.receivedAt),
  )
  return (
    <section>
      <h1>
        {t('inbox.title')}
        {client.data && <span className="subtitle"> · {client.data.name}</span>}
      </h1>
      <ClientNav clientId={clientId} agencyId={client.data?.agencyId} />
      <p className="muted">{t('time.zone', { zone })}</p>
      {items.length === 0 && <p className="empty">{t('inbox.empty')}</p>}
      <ul className="cards">
        {items.map((item) => (
          <li key={item.id} className={`card severity-${item.severity}`}>
            <span className={`badge severity-${item.severity}`}>{t(`severity.${item.severity}`)}</span>
            <p className="muted">
              {item.authorName} ({item.authorHandle}) · {t('inbox.received', { time: formatDateTime(item.receivedAt, zone, i18n.language) })}
            </p>
            <p className="text">{item.body}</p>
            <Link className="button" to={`/clients/${clientId}/compose?inboundItemId=${item.id}`}>
              {t('inbox.reply')}
            </Link>
          </li>
        ))}
      </ul>
    </section>
  )
}
