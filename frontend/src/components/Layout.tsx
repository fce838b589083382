import { useTranslation } from 'react-i18next'
import { Link, Outlet, useNavigate } from 'react-router'
import { useSignOut, useMe } from '../auth/session'
import { LANGUAGES } from '../i18n'
import { useLiveState } from '../live/LiveProvider'

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
        <Link to="/" className="brand" aria-label={t('workspace.switch')}>
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

export function Loading() {
  const { t } = useTranslation()
  return (
    <p className="muted" role="status">
      {t('app.loading')}
    </p>
  )
}
