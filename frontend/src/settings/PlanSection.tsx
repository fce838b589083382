import { useQuery } from '@tanstack/react-query'
import { useEffect, useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../api/client'
import { useApprovedTemplates } from '../api/queries'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { useRole, useSave } from './common'

const WHOM = ['on_duty', 'deputies', 'all_approvers', 'executives'] as const
const FALLBACKS = ['', 'publish_template', 'hide_item', 'crisis_mode'] as const
type Step = Schemas['PlanStepBody']

/** The emergency plan: ordered steps after the SLA runs out, the last one's fallback. */
export function PlanSection({ clientId }: { clientId: string }) {
  const { t } = useTranslation()
  const canEdit = useRole(clientId) === 'client_admin'
  const plan = useQuery({
    queryKey: ['plan', clientId],
    queryFn: () => unwrap(api.GET('/api/v1/clients/{client_id}/emergency-plan', { params: { path: { client_id: clientId } } })),
  })
  const templates = useApprovedTemplates(clientId)
  const save = useSave(['plan', clientId])
  const [steps, setSteps] = useState<Step[]>([])
  useEffect(() => {
    if (plan.data) {
      setSteps(
        (plan.data.steps as Schemas['PlanStepOut'][]).map((s) => ({
          afterMinutes: s.afterMinutes,
          notify: s.notify as Step['notify'],
          users: s.users,
          channels: s.channels as Step['channels'],
          fallback: s.fallback
            ? { action: s.fallback.action as 'publish_template', templateId: s.fallback.templateId, waitMinutes: s.fallback.waitMinutes }
            : null,
        })),
      )
    }
  }, [plan.data])

  if (plan.isPending) return <Loading />
  if (plan.error) return <ErrorMessage error={plan.error} />
  const update = (index: number, step: Partial<Step>) => setSteps(steps.map((s, i) => (i === index ? { ...s, ...step } : s)))

  async function submit(event: FormEvent) {
    event.preventDefault()
    await save.run(() =>
      unwrap(api.PUT('/api/v1/clients/{client_id}/emergency-plan', { params: { path: { client_id: clientId } }, body: { steps } })),
    )
  }

  return (
    <section aria-labelledby="plan">
      <h2 id="plan">{t('settings.plan')}</h2>
      {plan.data.isDefault && <p className="muted">{t('settings.defaultPlan')}</p>}
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <ol className="plain" data-testid="plan-steps">
          {steps.map((step, index) => (
            <li key={index}>
              <fieldset disabled={!canEdit}>
                <legend>{t('settings.step', { n: index + 1 })}</legend>
                <label>
                  {t('settings.afterMinutes')}
                  <input type="number" min={0} value={step.afterMinutes} onChange={(e) => update(index, { afterMinutes: Number(e.target.value) })} />
                </label>
                <div className="actions">
                  {WHOM.map((whom) => (
                    <label key={whom} className="choice">
                      <input
                        type="checkbox"
                        checked={step.notify.includes(whom)}
                        onChange={(e) =>
                          update(index, {
                            notify: e.target.checked ? [...step.notify, whom] : step.notify.filter((w) => w !== whom),
                          })
                        }
                      />
                      {t(`settings.whom.${whom}`)}
                    </label>
                  ))}
                </div>
                {index === steps.length - 1 && index > 0 && (
                  <>
                    <label>
                      {t('settings.fallback')}
                      <select
                        value={step.fallback?.action ?? ''}
                        onChange={(e) =>
                          update(index, {
                            fallback: e.target.value
                              ? { action: e.target.value as 'hide_item', templateId: null, waitMinutes: step.fallback?.waitMinutes ?? 5 }
                              : null,
                          })
                        }
                      >
                        {FALLBACKS.map((f) => (
                          <option key={f} value={f}>
                            {t(`settings.fallbacks.${f || 'none'}`)}
                          </option>
                        ))}
                      </select>
                    </label>
                    {step.fallback?.action === 'publish_template' && (
                      <label>
                        {t('settings.template')}
                        <select
                          value={step.fallback.templateId ?? ''}
                          onChange={(e) =>
                            update(index, {
                              fallback: {
                                action: 'publish_template',
                                templateId: e.target.value || null,
                                waitMinutes: step.fallback?.waitMinutes ?? 5,
                              },
                            })
                          }
                        >
                          <option value="">—</option>
                          {templates.data?.items.map((tpl) => (
                            <option key={tpl.id} value={tpl.id}>
                              {tpl.name}
                            </option>
                          ))}
                        </select>
                      </label>
                    )}
                    {step.fallback && (
                      <label>
                        {t('settings.fallbackWait')}
                        <input
                          type="number"
                          min={0}
                          max={1440}
                          value={step.fallback.waitMinutes ?? 5}
                          onChange={(e) =>
                            step.fallback && update(index, { fallback: { ...step.fallback, waitMinutes: Number(e.target.value) } })
                          }
                        />
                      </label>
                    )}
                  </>
                )}
                {canEdit && steps.length > 1 && (
                  <button type="button" className="danger" onClick={() => setSteps(steps.filter((_, i) => i !== index))}>
                    {t('settings.removeStep')}
                  </button>
                )}
              </fieldset>
            </li>
          ))}
        </ol>
        {canEdit && (
          <div className="actions">
            <button
              type="button"
              onClick={() =>
                setSteps([
                  ...steps.map((s) => ({ ...s, fallback: null })),
                  { afterMinutes: (steps.at(-1)?.afterMinutes ?? 0) + 15, notify: ['executives'], users: [], channels: ['in_app'], fallback: null },
                ])
              }
            >
              {t('settings.addStep')}
            </button>
            <button type="submit" className="primary" disabled={save.busy}>
              {t('settings.save')}
            </button>
          </div>
        )}
        <ErrorMessage error={save.error} />
        {save.saved && <p role="status">{t('settings.saved')}</p>}
      </form>
    </section>
  )
}
