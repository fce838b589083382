import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { useNavigate, useParams } from 'react-router'
import { api, unwrap } from '../api/client'
import { ME } from '../auth/session'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'

export function InvitationPage() {
  const { t } = useTranslation()
  const { token = '' } = useParams()
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  const preview = useQuery({
    queryKey: ['invitation', token],
    queryFn: () => unwrap(api.GET('/api/v1/invitation-links/{token}', { params: { path: { token } } }), { quiet401: true }),
    retry: false,
  })
  const [name, setName] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<unknown>(null)

  if (preview.isPending) return <Loading />
  if (preview.error) return <ErrorMessage error={preview.error} />
  const offer = preview.data
  const place = offer.clientName ?? offer.agencyName

  async function accept(event: FormEvent) {
    event.preventDefault()
    setError(null)
    try {
      const answer = await unwrap(
        api.POST('/api/v1/invitation-links/{token}/accept', { params: { path: { token } }, body: { name, password } }),
        { quiet401: true },
      )
      queryClient.clear()
      queryClient.setQueryData(ME, { user: answer.user, memberships: answer.memberships })
      navigate('/', { replace: true })
    } catch (failure) {
      setError(failure)
    }
  }

  return (
    <section className="narrow">
      <h1>{t('invitation.title')}</h1>
      <p>{t('invitation.offer', { role: t(`roles.${offer.role}`), place })}</p>
      <p className="muted">{offer.email}</p>
      {offer.accountExists && <p>{t('invitation.existing')}</p>}
      <form onSubmit={(e) => void accept(e)} className="stack">
        {!offer.accountExists && (
          <label>
            {t('invitation.name')}
            <input autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
          </label>
        )}
        <label>
          {offer.accountExists ? t('auth.password') : t('invitation.password')}
          <input
            type="password"
            autoComplete={offer.accountExists ? 'current-password' : 'new-password'}
            required
            minLength={offer.accountExists ? undefined : 12}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </label>
        <ErrorMessage error={error} />
        <button type="submit" className="primary">
          {t('invitation.accept')}
        </button>
      </form>
    </section>
  )
}
