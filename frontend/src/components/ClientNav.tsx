import { useTranslation } from 'react-i18next'
import { NavLink } from 'react-router'
import { useMe } from '../auth/session'
import { AGENCY_ROLES, roleAtClient } from '../auth/workspace'

/** The screens of one client, as far as the person's role there reaches. */
export function ClientNav({ clientId, agencyId }: { clientId: string; agencyId?: string }) {
  const { t } = useTranslation()
  const me = useMe()
  const role = roleAtClient(me.data?.memberships ?? [], clientId, agencyId)
  const agency = role !== null && AGENCY_ROLES.has(role)
  return (
    <nav className="client-nav" aria-label={t('nav.client')}>
      <NavLink to={`/clients/${clientId}/queue`}>{t('agency.queue')}</NavLink>
      {agency && <NavLink to={`/clients/${clientId}/inbox`}>{t('agency.inbox')}</NavLink>}
      {agency && role !== 'viewer' && <NavLink to={`/clients/${clientId}/compose`}>{t('agency.compose')}</NavLink>}
      <NavLink to={`/clients/${clientId}/audit`}>{t('audit.title')}</NavLink>
      <NavLink to={`/clients/${clientId}/settings`}>{t('settings.title')}</NavLink>
    </nav>
  )
}
