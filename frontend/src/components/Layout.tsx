import { useTranslation } from 'react-i18next'
import { Link, Outlet, useNavigate } from 'react-router'
import { useSignOut, useMe } from '../auth/session'
import { LANGUAGES } from '../i18n'
import { useLiveState } from '../live/LiveProvider'
import { useNotifications } from '../pages/NotificationsPage'

export function Layout() {
  const { t, i18n } = useTranslation()
  const me = useMe()
  const signOut = useSignOut()
  const navigate = useNavigate()
  const live = useLiveState()
  const language = (i18n.resolvedLanguage ?? 'en').slice(0, 2)

  return (
    <>
      <a className="skip" href="#main">
        {t('app.skip')}
      </a>
      <header className="bar">
        <Link to="/workspaces" className="brand" aria-label={`${t('app.name')} – ${t('workspace.switch')}`}>
          {t('app.name')}
        </Link>
        <span className={`live live-${live}`} role="status" aria-live="polite">
          {t(`live.${live}`)}
        </span>
        <label className="language">
          <span className="sr-only">{t('language.label')}</span>
          <select value={language} onChange={(e) => void i18n.changeLanguage(e.target.value)}>
            {LANGUAGES.map((code) => (
              <option key={code} value={code}>
                {t(`language.${code}`)}
              </option>
            ))}
          </select>
        </label>
        {me.data && <UnreadLink />}
        {me.data && (
          <button
            type="button"
            className="link"
            onClick={() => void signOut().then(() => navigate('/sign-in'))}
          >
            {t('auth.signOut')}
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  )
}

function UnreadLink() {
  const { t } = useTranslation()
  const unread = useNotifications(true)
  const count = unread.data?.items.length ?? 0
  return (
    <Link to="/notifications" className="unread" aria-label={t('notifications.link', { count })}>
      <svg aria-hidden="true" width="20" height="20" viewBox="0 0 24 24" fill="currentColor">
        <path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5-6.71V3.5a2 2 0 0 0-4 0v.79A7 7 0 0 0 5 11v5l-2 2v1h18v-1z" />
      </svg>
      {count > 0 && (
        <span className="count" aria-hidden="true">
          {count}
        </span>
      )}
    </Link>
  )
}

export function Loading() {
  const { t } = useTranslation()
  return (
    <p className="muted" role="status">
      {t('app.loading')}
    </p>
  )
}
