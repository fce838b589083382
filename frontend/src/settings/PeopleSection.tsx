import { useQuery } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { ApiError, api, unwrap } from '../api/client'
import { useMe } from '../auth/session'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { useClient } from '../queue/data'
import { CLIENT_ROLES, useMembers, useRole, useSave } from './common'

const AGENCY_MANAGERS = new Set(['owner', 'admin'])

type Member = { id: string; userId: string; email: string; name: string; role: string; clientId?: string | null; invitedByAgency?: boolean; confirmed?: boolean }

/**
 * The client's people and their roles. The client keeps authority over them: its admins
 * invite, change, remove and confirm; the agency's owner and admins invite only the
 * client's first admin, to an address on the client's verified domains.
 */
export function PeopleSection({ clientId }: { clientId: string }) {
  const { t } = useTranslation()
  const members = useMembers(clientId)
  const role = useRole(clientId)
  const me = useMe()
  const client = useClient(clientId)
  const isClientAdmin = role === 'client_admin'
  const isAgencyManager = role !== null && AGENCY_MANAGERS.has(role)
  const invitations = useQuery({
    queryKey: ['invitations', clientId],
    queryFn: () =>
      unwrap(api.GET('/api/v1/clients/{client_id}/invitations', { params: { path: { client_id: clientId } } })),
    enabled: isClientAdmin || isAgencyManager,
  })
  const save = useSave(['members', clientId], ['invitations', clientId])
  const [email, setEmail] = useState('')
  const [newRole, setNewRole] = useState<string>('approver')
  const [sent, setSent] = useState<{ email: string; acceptUrl: string | null } | null>(null)
  // A change that would leave the approval policy impossible is refused with a warning;
  // the admin may repeat it on purpose (force) and fix the policy next.
  const [forced, setForced] = useState<(() => Promise<unknown>) | null>(null)

  function changePerson(request: (force: boolean) => Promise<unknown>) {
    setForced(() => () => request(true))
    void save.run(() => request(false))
  }

  if (members.isPending) return <Loading />
  if (members.error) return <ErrorMessage error={members.error} />
  const people: Member[] = members.data.items.filter((m) => m.clientId === clientId)
  const hasAdmin = people.some((m) => m.role === 'client_admin')
  const agencyInvitesFirstAdmin = isAgencyManager && !isClientAdmin && !hasAdmin
  const mayInvite = isClientAdmin || agencyInvitesFirstAdmin
  const domains = client.data?.verifiedDomains ?? []
  const myId = me.data?.user.id
  const myMembership = people.find((m) => m.userId === myId)
  const iMayConfirm = isClientAdmin && myMembership?.confirmed !== false

  async function invite(event: FormEvent) {
    event.preventDefault()
    const created = await save.run(() =>
      unwrap(
        api.POST('/api/v1/clients/{client_id}/invitations', {
          params: { path: { client_id: clientId } },
          body: { email, role: isClientAdmin ? newRole : 'client_admin' },
        }),
      ),
    )
    if (created) {
      setEmail('')
      setSent({ email: created.invitation.email, acceptUrl: created.acceptUrl ?? null })
    }
  }

  return (
    <section aria-labelledby="people">
      <h2 id="people">{t('settings.people')}</h2>
      <ErrorMessage error={save.error} />
      {save.error instanceof ApiError && save.error.breaksPolicy && forced && (
        <p>
          <button
            type="button"
            className="danger"
            onClick={() => {
              const again = forced
              setForced(null)
              void save.run(again)
            }}
          >
            {t('settings.changeAnyway')}
          </button>
        </p>
      )}
      <ul className="plain" data-testid="people">
        {people.map((m) => (
          <li key={m.id} className="row">
            <span>
              <strong>{m.name || m.email}</strong> <span className="muted">{m.email}</span>
              {m.invitedByAgency && (
                <span className={m.confirmed ? 'badge' : 'badge warn'} data-testid="agency-made">
                  {m.confirmed ? t('settings.byAgencyConfirmed') : t('settings.byAgencyUnconfirmed')}
                </span>
              )}
            </span>
            <span className="actions">
              {isClientAdmin ? (
                <label>
                  <span className="sr-only">{t('settings.roleOf', { name: m.name || m.email })}</span>
                  <select
                    value={m.role}
                    onChange={(e) => {
                      const role = e.target.value
                      changePerson((force) =>
                        unwrap(
                          api.PATCH('/api/v1/memberships/{membership_id}', {
                            params: { path: { membership_id: m.id }, query: { force } },
                            body: { role },
                          }),
                        ),
                      )
                    }}
                  >
                    {CLIENT_ROLES.map((r) => (
                      <option key={r} value={r}>
                        {t(`roles.${r}`)}
                      </option>
                    ))}
                  </select>
                </label>
              ) : (
                <span>{t(`roles.${m.role}`)}</span>
              )}
              {iMayConfirm && m.invitedByAgency && !m.confirmed && m.userId !== myId && (
                <button
                  type="button"
                  className="primary"
                  onClick={() =>
                    void save.run(() =>
                      unwrap(api.POST('/api/v1/memberships/{membership_id}/confirm', { params: { path: { membership_id: m.id } } })),
                    )
                  }
                >
                  {t('settings.confirm')}
                </button>
              )}
              {(isClientAdmin || agencyInvitesFirstAdmin) && (
                <button
                  type="button"
                  className="danger"
                  onClick={() =>
                    changePerson((force) =>
                      unwrap(
                        api.DELETE('/api/v1/memberships/{membership_id}', {
                          params: { path: { membership_id: m.id }, query: { force } },
                        }),
                      ),
                    )
                  }
                >
                  {t('settings.remove')}
                </button>
              )}
            </span>
          </li>
        ))}
      </ul>
      {isAgencyManager && !isClientAdmin && hasAdmin && (
        <p className="muted" data-testid="client-manages-people">
          {t('settings.clientManagesPeople')}
        </p>
      )}
      <DomainsBlock clientId={clientId} domains={domains} editable={isClientAdmin} />
      {mayInvite && (
        <>
          <h3>{agencyInvitesFirstAdmin ? t('settings.inviteFirstAdmin') : t('settings.invite')}</h3>
          {agencyInvitesFirstAdmin && (
            <p className="muted" data-testid="first-admin-rule">
              {domains.length > 0
                ? t('settings.firstAdminRule', { domains: domains.join(', ') })
                : t('settings.firstAdminNoDomains')}
            </p>
          )}
          <form className="stack" onSubmit={(e) => void invite(e)}>
            <label>
              {t('auth.email')}
              <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
            </label>
            {isClientAdmin && (
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
            )}
            <button type="submit" className="primary" disabled={save.busy}>
              {t('settings.sendInvitation')}
            </button>
          </form>
          {sent && (
            <p className="notice" role="status">
              {sent.acceptUrl ? (
                <>
                  {t('settings.invited')} <code className="text">{sent.acceptUrl}</code>
                </>
              ) : (
                t('settings.invitedByMailOnly', { email: sent.email })
              )}
            </p>
          )}
        </>
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
                    {i.forAgency && <span className="badge">{t('settings.sentByAgency')}</span>}
                  </span>
                  {(isClientAdmin || (isAgencyManager && i.forAgency)) && (
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
                  )}
                </li>
              ))}
          </ul>
        </>
      )}
    </section>
  )
}

/** The client's verified domains: its admins edit them, everybody else reads them. */
function DomainsBlock({ clientId, domains, editable }: { clientId: string; domains: string[]; editable: boolean }) {
  const { t } = useTranslation()
  const save = useSave(['client', clientId])
  const [text, setText] = useState<string | null>(null)
  const shown = text ?? domains.join('\n')

  async function submit(event: FormEvent) {
    event.preventDefault()
    const wanted = shown
      .split(/[\s,]+/)
      .map((d) => d.trim())
      .filter(Boolean)
    const saved = await save.run(() =>
      unwrap(
        api.PUT('/api/v1/clients/{client_id}/verified-domains', {
          params: { path: { client_id: clientId } },
          body: { domains: wanted },
        }),
      ),
    )
    if (saved) setText(null)
  }

  return (
    <div data-testid="verified-domains">
      <h3>{t('settings.verifiedDomains')}</h3>
      <p className="muted">{t('settings.verifiedDomainsWhy')}</p>
      {editable ? (
        <form className="stack" onSubmit={(e) => void submit(e)}>
          <ErrorMessage error={save.error} />
          <label>
            {t('settings.domainsOnePerLine')}
            <textarea rows={3} value={shown} onChange={(e) => setText(e.target.value)} />
          </label>
          <button type="submit" className="primary" disabled={save.busy}>
            {t('settings.save')}
          </button>
          {save.saved && <p role="status">{t('settings.saved')}</p>}
        </form>
      ) : (
        <p>{domains.length > 0 ? domains.join(', ') : t('settings.noDomains')}</p>
      )}
    </div>
  )
}
