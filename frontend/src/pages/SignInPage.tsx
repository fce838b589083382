import { useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { useNavigate, useSearchParams } from 'react-router'
import { ME, useSignIn } from '../auth/session'
import { ErrorMessage } from '../components/ErrorMessage'

export function SignInPage() {
  const { t } = useTranslation()
  const signIn = useSignIn()
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  const [params] = useSearchParams()
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const expired = params.get('expired') === '1'

  async function submit(event: FormEvent) {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await signIn(email, password)
      const next = params.get('next')
      navigate(next && next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true })
    } catch (failure) {
      queryClient.setQueryData(ME, null)
      setError(failure)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section className="narrow">
      <h1>{t('auth.title')}</h1>
      {expired && <p className="notice">{t('auth.expired')}</p>}
      <form onSubmit={(e) => void submit(e)} className="stack">
        <label>
          {t('auth.email')}
          <input type="email" autoComplete="username" required value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          {t('auth.password')}
          <input
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <ErrorMessage error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {t('auth.submit')}
        </button>
      </form>
    </section>
  )
}
