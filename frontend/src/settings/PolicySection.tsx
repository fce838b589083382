import { useQuery } from '@tanstack/react-query'
import { useEffect, useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { api, unwrap } from '../api/client'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { useRole, useSave } from './common'

const SEVERITIES = ['normal', 'high', 'crisis'] as const
const DECIDERS = ['approver', 'executive'] as const
type Alternative = Record<string, number>
type Policy = Record<(typeof SEVERITIES)[number], Alternative[]>

/** Who must approve, per severity: any one alternative suffices (e.g. one executive,
 *  or two approvers); four eyes: nobody approves what they wrote. */
export function PolicySection({ clientId }: { clientId: string }) {
  const { t } = useTranslation()
  const canEdit = useRole(clientId) === 'client_admin'
  const policy = useQuery({
    queryKey: ['approval-policy', clientId],
    queryFn: () =>
      unwrap(api.GET('/api/v1/clients/{client_id}/approval-policy', { params: { path: { client_id: clientId } } })),
  })
  const save = useSave(['approval-policy', clientId], ['queue', clientId])
  const [alternatives, setAlternatives] = useState<Policy>({ normal: [], high: [], crisis: [] })
  const [fourEyes, setFourEyes] = useState(true)
  useEffect(() => {
    if (policy.data) {
      setAlternatives({ normal: policy.data.normal, high: policy.data.high, crisis: policy.data.crisis })
      setFourEyes(policy.data.fourEyes)
    }
  }, [policy.data])

  if (policy.isPending) return <Loading />
  if (policy.error) return <ErrorMessage error={policy.error} />

  function change(severity: (typeof SEVERITIES)[number], index: number, role: string, count: number) {
    setAlternatives({
      ...alternatives,
      [severity]: alternatives[severity].map((alt, i) => {
        if (i !== index) return alt
        const next = { ...alt }
        if (count > 0) next[role] = count
        else delete next[role]
        return next
      }),
    })
  }

  async function submit(event: FormEvent) {
    event.preventDefault()
    await save.run(() =>
      unwrap(
        api.PUT('/api/v1/clients/{client_id}/approval-policy', {
          params: { path: { client_id: clientId } },
          body: { ...alternatives, fourEyes },
        }),
      ),
    )
  }

  return (
    <section aria-labelledby="policy">
      <h2 id="policy">{t('settings.policy')}</h2>
      {policy.data.isDefault && <p className="muted">{t('settings.defaultApprovalPolicy')}</p>}
      <form className="stack" onSubmit={(e) => void submit(e)}>
        {SEVERITIES.map((severity) => (
          <fieldset key={severity} disabled={!canEdit}>
            <legend>{t(`severity.${severity}`)}</legend>
            {alternatives[severity].map((alt, index) => (
              <div key={index} className="row">
                <span className="muted">{index === 0 ? t('settings.either') : t('settings.or')}</span>
                {DECIDERS.map((role) => (
                  <label key={role}>
                    {t('settings.howMany', { role: t(`roles.${role}`) })}
                    <input
                      type="number"
                      min={0}
                      max={10}
                      value={alt[role] ?? 0}
                      onChange={(e) => change(severity, index, role, Number(e.target.value))}
                    />
                  </label>
                ))}
                {canEdit && alternatives[severity].length > 1 && (
                  <button
                    type="button"
                    className="danger"
                    onClick={() => setAlternatives({ ...alternatives, [severity]: alternatives[severity].filter((_, i) => i !== index) })}
                  >
                    {t('settings.remove')}
                  </button>
                )}
              </div>
            ))}
            {canEdit && (
              <button
                type="button"
                onClick={() => setAlternatives({ ...alternatives, [severity]: [...alternatives[severity], { approver: 1 }] })}
              >
                {t('settings.addAlternative')}
              </button>
            )}
          </fieldset>
        ))}
        <label className="choice">
          <input type="checkbox" disabled={!canEdit} checked={fourEyes} onChange={(e) => setFourEyes(e.target.checked)} />
          {t('settings.fourEyes')}
        </label>
        <ErrorMessage error={save.error} />
        {save.saved && <p role="status">{t('settings.saved')}</p>}
        {canEdit && (
          <button type="submit" className="primary" disabled={save.busy}>
            {t('settings.save')}
          </button>
        )}
      </form>
    </section>
  )
}
