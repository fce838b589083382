import { useQuery } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { api, unwrap } from '../api/client'
import { AGENCY_ROLES } from '../auth/workspace'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { useRole, useSave } from './common'

const DECIDERS = new Set(['executive', 'client_admin'])

/** Holding statements: the agency proposes, the client's executives and admins approve
 *  (only approved ones can be an emergency plan's fallback) or retire them. */
export function TemplatesSection({ clientId }: { clientId: string }) {
  const { t } = useTranslation()
  const role = useRole(clientId)
  const decides = role !== null && DECIDERS.has(role)
  const proposes = role !== null && AGENCY_ROLES.has(role) && role !== 'viewer'
  const templates = useQuery({
    queryKey: ['templates', clientId],
    queryFn: () => unwrap(api.GET('/api/v1/clients/{client_id}/templates', { params: { path: { client_id: clientId } } })),
  })
  const save = useSave(['templates', clientId])
  const [name, setName] = useState('')
  const [body, setBody] = useState('')

  if (templates.isPending) return <Loading />
  if (templates.error) return <ErrorMessage error={templates.error} />

  async function propose(event: FormEvent) {
    event.preventDefault()
    const created = await save.run(() =>
      unwrap(api.POST('/api/v1/clients/{client_id}/templates', { params: { path: { client_id: clientId } }, body: { name, body } })),
    )
    if (created) {
      setName('')
      setBody('')
    }
  }

  return (
    <section aria-labelledby="templates">
      <h2 id="templates">{t('settings.templates')}</h2>
      <ErrorMessage error={save.error} />
      <ul className="cards" data-testid="templates">
        {templates.data.items.map((tpl) => (
          <li key={tpl.id} className="card">
            <strong>{tpl.name}</strong> <span className="badge">{t(`settings.templateStatus.${tpl.status}`)}</span>
            <p className="text">{tpl.body}</p>
            <div className="actions">
              {decides && tpl.status === 'proposed' && (
                <button
                  type="button"
                  className="primary"
                  onClick={() =>
                    void save.run(() =>
                      unwrap(
                        api.POST('/api/v1/templates/{template_id}/approve', {
                          params: { path: { template_id: tpl.id } },
                          body: { version: tpl.version },
                        }),
                      ),
                    )
                  }
                >
                  {t('queue.approve')}
                </button>
              )}
              {(decides || (proposes && tpl.status === 'proposed')) && tpl.status !== 'retired' && (
                <button
                  type="button"
                  className="danger"
                  onClick={() =>
                    void save.run(() => unwrap(api.POST('/api/v1/templates/{template_id}/retire', { params: { path: { template_id: tpl.id } } })))
                  }
                >
                  {t('settings.retire')}
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
      {proposes && (
        <form className="stack" onSubmit={(e) => void propose(e)}>
          <h3>{t('settings.proposeTemplate')}</h3>
          <label>
            {t('settings.templateName')}
            <input required value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            {t('composer.body')}
            <textarea required rows={3} value={body} onChange={(e) => setBody(e.target.value)} />
          </label>
          <button type="submit" disabled={save.busy}>
            {t('settings.propose')}
          </button>
        </form>
      )}
    </section>
  )
}
