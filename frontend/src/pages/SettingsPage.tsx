import { useTranslation } from 'react-i18next'
import { NavLink, Navigate, useParams } from 'react-router'
import { ClientNav } from '../components/ClientNav'
import { useClient } from '../queue/data'
import { DutySection } from '../settings/DutySection'
import { PeopleSection } from '../settings/PeopleSection'
import { PlanSection } from '../settings/PlanSection'
import { PolicySection } from '../settings/PolicySection'
import { RotaSection } from '../settings/RotaSection'
import { SlaSection } from '../settings/SlaSection'
import { TemplatesSection } from '../settings/TemplatesSection'

const SECTIONS = {
  people: PeopleSection,
  policy: PolicySection,
  sla: SlaSection,
  plan: PlanSection,
  rota: RotaSection,
  templates: TemplatesSection,
  duty: DutySection,
} as const
type Section = keyof typeof SECTIONS

/** The client's settings: everyone who sees the client reads them, client admins write. */
export function SettingsPage() {
  const { clientId = '', section = 'people' } = useParams()
  const { t } = useTranslation()
  const client = useClient(clientId)
  if (!(section in SECTIONS)) return <Navigate to={`/clients/${clientId}/settings/people`} replace />
  const Body = SECTIONS[section as Section]
  return (
    <section>
      <h1>
        {t('settings.title')}
        {client.data && <span className="subtitle"> · {client.data.name}</span>}
      </h1>
      <ClientNav clientId={clientId} agencyId={client.data?.agencyId} />
      <nav className="tabs" aria-label={t('settings.title')}>
        {(Object.keys(SECTIONS) as Section[]).map((key) => (
          <NavLink key={key} to={`/clients/${clientId}/settings/${key}`}>
            {t(`settings.sections.${key}`)}
          </NavLink>
        ))}
      </nav>
      <Body clientId={clientId} />
    </section>
  )
}
