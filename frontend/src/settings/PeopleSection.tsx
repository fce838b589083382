import { useQuery } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { api, unwrap } from '../api/client'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { CLIENT_ROLES, useMembers, useRole, useSave } from './common'

const MANAGERS = new Set(['client_admin', 'owner', 'admin'])

/** The client's people and their roles; client admins invite, change and remove them. */
export function PeopleSection({ clientId }: { clientId: string }) {
  const { t } = useTranslation()
  const members = useMembers(clientId)
  const role = useRole(clientId)
  const manages = role !== null && MANAGERS.has(role)
  const invitations = useQuery({
    queryKey: ['invitations', clientId],
    queryFn: () =>
      unwrap(api.GET('/api/v1/clients/{client_id}/invitations', { params: { path: { client_id: clientId } } })),
    enabled: manages,
  })
  const save = useSave(['members', clientId], ['invitations', clientId])
  const [email, setEmail] = useState('')
  const [newRole, setNewRole] = useState<string>('approver')
  const [acceptUrl, setAcceptUrl] = useState<string | null>(null)

  if (members.isPending) return <Loading />
  if (members.error) return <ErrorMessage error={members.error} />
  const people = members.data.items.filter((m) => m.clientId === clientId)

  async function invite(event: FormEvent) {
    event.preventDefault()
    const created = await save.run(() =>
      unwrap(
        api.POST('/api/v1/clients/{client_id}/invitations', {
          params: { path: { client_id: clientId } },
          body: { email, role: newRole },
        }),
      ),
    )
    if (created) {
      setEmail('')
      setAcceptUrl(created.acceptUrl)
    }
  }

  return (
    <section aria-labelledby="people">
      <h2 id="people">{t('settings.people')}</h2>
      <ErrorMessage error={save.error} />
      <ul className="plain" data-testid="people">
        {people.map((m) => (
          <li key={m.id} className="row">
            <span>
              <strong>{m.name || m.email}</strong> <span className="muted">{m.email}</span>
            </span>
            {manages ? (
              <span className="actions">
                <label>
                  <span className="sr-only">{t('settings.roleOf', { name: m.name || m.email })}</span>
                  <select
                    value={m.role}
                    onChange={(e) =>
                      void save.run(() =>
                        unwrap(
                          api.PATCH('/api/v1/memberships/{membership_id}', {
                            params: { path: { membership_id: m.id } },
                            body: { role: e.target.value },
                          }),
                        ),
                      )
                    }
                  >
                    {CLIENT_ROLES.map((r) => (
                      <option key={r} value={r}>
                        {t(`roles.${r}`)}
                      </option>
                    ))}
                  </select>
                </label>
                <button
                  type="button"
                  className="danger"
                  onClick={() =>
                    void save.run(() =>
                      unwrap(api.DELETE('/api/v1/memberships/{membership_id}', { params: { path: { membership_id: m.id } } })),
                    )
                  }
                >
                  {t('settings.remove')}
                </button>
              </span>
            ) : (
              <span>{t(`roles.${m.role}`)}</span>
            )}
          </li>
        ))}
      </ul>
      {manages && (
        <>
          <h3>{t('settings.invite')}</h3>
          <form className="stack" onSubmit={(e) => void invite(e)}>
            <label>
              {t('auth.email')}
              <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </label>
            <label>
              {t('settings.role')}
              <select value={newRole} onChange={(e) => setNewRole(e.target.value)}>
                {CLIENT_ROLES.map((r) => (
                  <option key={r} value={r}>
                    {t(`roles.${r}`)}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit" className="primary" disabled={save.busy}>
              {t('settings.sendInvitation')}
            </button>
          </form>
          {acceptUrl && (
            <p className="notice" role="status">
              {t('settings.invited')} <code className="text">{acceptUrl}</code>
            </p>
          )}
          {invitations.data && invitations.data.items.filter((i) => i.state === 'pending').length > 0 && (
            <>
              <h3>{t('settings.pendingInvitations')}</h3>
              <ul className="plain">
                {invitations.data.items
                  .filter((i) => i.state === 'pending')
                  .map((i) => (
                    <li key={i.id} className="row">
                      <span>
                        {i.email} · {t(`roles.${i.role}`)}
                      </span>
                      <button
                        type="button"
                        onClick={() =>
                          void save.run(() =>
                            unwrap(api.POST('/api/v1/invitations/{invitation_id}/revoke', { params: { path: { invitation_id: i.id } } })),
                          )
                        }
                      >
                        {t('settings.revoke')}
                      </button>
                    </li>
                  ))}
              </ul>
            </>
          )}
        </>
      )}
    </section>
  )
}
