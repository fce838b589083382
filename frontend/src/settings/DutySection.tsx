import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import { api, unwrap } from '../api/client'
import { ErrorMessage } from '../components/ErrorMessage'
import { formatDateTime } from '../i18n/format'
import { useClient, useCrisis } from '../queue/data'
import { useRole, useSave } from './common'

const CRISIS_DECIDERS = new Set(['executive', 'client_admin'])

/** One's own duty calendar (a secret iCal link) and, for executives, the crisis switch. */
export function DutySection({ clientId }: { clientId: string }) {
  const { t, i18n } = useTranslation()
  const role = useRole(clientId)
  const client = useClient(clientId)
  const crisis = useCrisis(clientId)
  const save = useSave(['crisis', clientId])
  const [feed, setFeed] = useState<string | null>(null)
  const [reason, setReason] = useState('')
  const decides = role !== null && CRISIS_DECIDERS.has(role)
  const zone = client.data?.timezone ?? 'UTC'

  return (
    <section aria-labelledby="duty">
      <h2 id="duty">{t('settings.calendar')}</h2>
      <p className="muted">{t('settings.calendarHint')}</p>
      <button
        type="button"
        onClick={() =>
          void save
            .run(() => unwrap(api.POST('/api/v1/clients/{client_id}/rota/feed', { params: { path: { client_id: clientId } } })))
            .then((created) => created && setFeed(created.url))
        }
      >
        {t('settings.createFeed')}
      </button>
      {feed && (
        <p className="notice" role="status">
          {t('settings.feedOnce')} <code className="text" data-testid="feed-url">{feed}</code>
        </p>
      )}
      <h2>{t('settings.crisis')}</h2>
      {crisis.data?.active ? (
        <p className="banner crisis">
          {t('settings.crisisSince', { time: formatDateTime(crisis.data.startedAt, zone, i18n.language) })} {crisis.data.reason}
        </p>
      ) : (
        <p>{t('settings.noCrisis')}</p>
      )}
      {decides && !crisis.data?.active && (
        <form
          className="stack"
          onSubmit={(e) => {
            e.preventDefault()
            void save.run(() =>
              unwrap(api.POST('/api/v1/clients/{client_id}/crisis', { params: { path: { client_id: clientId } }, body: { reason } })),
            )
          }}
        >
          <label>
            {t('settings.crisisReason')}
            <input value={reason} onChange={(e) => setReason(e.target.value)} />
          </label>
          <button type="submit" className="danger">
            {t('settings.declareCrisis')}
          </button>
        </form>
      )}
      {decides && crisis.data?.active && (
        <button
          type="button"
          onClick={() =>
            void save.run(() => unwrap(api.DELETE('/api/v1/clients/{client_id}/crisis', { params: { path: { client_id: clientId } } })))
          }
        >
          {t('settings.endCrisis')}
        </button>
      )}
      <ErrorMessage error={save.error} />
    </section>
  )
}
