import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import { Link } from 'react-router'
import { api, unwrap } from '../api/client'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { formatDateTime } from '../i18n/format'

export const NOTIFICATIONS = ['notifications'] as const

/** The person's notifications, kept current by the live feed (see LiveProvider). */
export function useNotifications(unread: boolean) {
  return useQuery({
    queryKey: [...NOTIFICATIONS, unread ? 'unread' : 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/me/notifications', { params: { query: { unread } } })),
  })
}

export function NotificationsPage() {
  const { t, i18n } = useTranslation()
  const queryClient = useQueryClient()
  const [onlyUnread, setOnlyUnread] = useState(true)
  const list = useNotifications(onlyUnread)
  const [error, setError] = useState<unknown>(null)
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone

  async function run(call: () => Promise<unknown>) {
    setError(null)
    try {
      await call()
    } catch (failure) {
      setError(failure)
    }
    await queryClient.invalidateQueries({ queryKey: NOTIFICATIONS })
  }

  if (list.isPending) return <Loading />
  if (list.error) return <ErrorMessage error={list.error} />
  return (
    <section>
      <h1>{t('notifications.title')}</h1>
      <div className="actions">
        <label className="choice">
          <input type="checkbox" checked={onlyUnread} onChange={(e) => setOnlyUnread(e.target.checked)} />
          {t('notifications.onlyUnread')}
        </label>
        <button type="button" onClick={() => void run(() => unwrap(api.POST('/api/v1/me/notifications/read')))}>
          {t('notifications.readAll')}
        </button>
      </div>
      <ErrorMessage error={error} />
      {list.data.items.length === 0 && <p className="empty">{t('notifications.empty')}</p>}
      <ul className="cards" data-testid="notifications">
        {list.data.items.map((n) => (
          <li key={n.id} className={`card ${n.readAt ? 'read' : 'unread'}`}>
            <strong>{n.title}</strong>
            {n.body && <p className="text">{n.body}</p>}
            <span className="muted">{formatDateTime(n.createdAt, zone, i18n.language)}</span>
            <div className="actions">
              {n.subjectType === 'draft' && n.subjectId && <Link to={`/drafts/${n.subjectId}`}>{t('notifications.open')}</Link>}
              {!n.readAt && (
                <button
                  type="button"
                  onClick={() =>
                    void run(() =>
                      unwrap(api.POST('/api/v1/me/notifications/{notification_id}/read', { params: { path: { notification_id: n.id } } })),
                    )
                  }
                >
                  {t('notifications.markRead')}
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
    </section>
  )
}
