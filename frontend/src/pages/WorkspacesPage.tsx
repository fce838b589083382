import { useTranslation } from 'react-i18next'
import { Link, Navigate } from 'react-router'
import { useMe } from '../auth/session'
import { rememberedWorkspace, rememberWorkspace, workspacesOf } from '../auth/workspace'

export function WorkspacesPage({ choose = false }: { choose?: boolean }) {
  const { t } = useTranslation()
  const me = useMe()
  const workspaces = workspacesOf(me.data?.memberships ?? [])
  if (!choose) {
    const only = workspaces.length === 1 ? workspaces[0] : rememberedWorkspace(workspaces)
    if (only) return <Navigate to={only.path} replace />
  }
  return (
    <section>
      <h1>{t('workspace.title')}</h1>
      {workspaces.length === 0 && <p>{t('workspace.none')}</p>}
      <ul className="cards">
        {workspaces.map((w) => (
          <li key={w.key}>
            <Link to={w.path} className="card" onClick={() => rememberWorkspace(w.key)}>
              <strong>{w.name}</strong>
              <span className="muted">
                {w.kind === 'agency' ? t('workspace.agency') : `${t('workspace.client')} · ${w.agencyName}`} ·{' '}
                {t(`roles.${w.role}`)}
              </span>
            </Link>
          </li>
        ))}
      </ul>
    </section>
  )
}
