import { useQuery } from '@tanstack/react-query'
import { useEffect, useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../api/client'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { useRole, useSave } from './common'

const SEVERITIES = ['normal', 'high', 'crisis'] as const
const WEEKDAYS = [0, 1, 2, 3, 4, 5, 6]

type Policy = Schemas['SlaPolicyOut']
interface Day {
  open: boolean
  opens: string
  closes: string
}

function daysOf(policy: Policy): Day[] {
  return WEEKDAYS.map((weekday) => {
    const hours = (policy.hours as Schemas['OpeningHoursOut'][]).find((h) => h.weekday === weekday)
    return hours ? { open: true, opens: hours.opens.slice(0, 5), closes: hours.closes.slice(0, 5) } : { open: false, opens: '08:00', closes: '18:00' }
  })
}

/** How long the client has to decide per severity, opening hours, holidays, reminder. */
export function SlaSection({ clientId }: { clientId: string }) {
  const { t } = useTranslation()
  const role = useRole(clientId)
  const canEdit = role === 'client_admin'
  const policy = useQuery({
    queryKey: ['sla', clientId],
    queryFn: () => unwrap(api.GET('/api/v1/clients/{client_id}/sla-policy', { params: { path: { client_id: clientId } } })),
  })
  const save = useSave(['sla', clientId])
  const [targets, setTargets] = useState<Record<string, Schemas['TargetOut']>>({})
  const [days, setDays] = useState<Day[]>([])
  const [holidays, setHolidays] = useState('')
  const [timezone, setTimezone] = useState('')
  const [reminder, setReminder] = useState(75)

  useEffect(() => {
    if (!policy.data) return
    setTargets(policy.data.targets as Record<string, Schemas['TargetOut']>)
    setDays(daysOf(policy.data))
    setHolidays((policy.data.holidays as string[]).join('\n'))
    setTimezone(policy.data.timezone)
    setReminder(Math.round(policy.data.reminderAt * 100))
  }, [policy.data])

  if (policy.isPending) return <Loading />
  if (policy.error) return <ErrorMessage error={policy.error} />
  const weekdayName = (d: number) =>
    new Intl.DateTimeFormat(undefined, { weekday: 'long' }).format(new Date(Date.UTC(2026, 0, 5 + d)))

  async function submit(event: FormEvent) {
    event.preventDefault()
    await save.run(() =>
      unwrap(
        api.PUT('/api/v1/clients/{client_id}/sla-policy', {
          params: { path: { client_id: clientId } },
          body: {
            targets: targets as Schemas['TargetsBody'],
            timezone,
            hours: days.flatMap((day, weekday) => (day.open ? [{ weekday, opens: day.opens, closes: day.closes }] : [])),
            holidays: holidays.split(/\s+/).filter(Boolean),
            reminderAt: reminder / 100,
          },
        }),
      ),
    )
  }

  return (
    <section aria-labelledby="sla">
      <h2 id="sla">{t('settings.sla')}</h2>
      {policy.data.isDefault && <p className="muted">{t('settings.defaultPolicy')}</p>}
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <fieldset disabled={!canEdit}>
          <legend>{t('settings.targets')}</legend>
          {SEVERITIES.map((severity) => (
            <div key={severity} className="row">
              <label>
                {t(`severity.${severity}`)} ({t('settings.minutes')})
                <input
                  type="number"
                  min={1}
                  value={targets[severity]?.minutes ?? ''}
                  onChange={(e) => setTargets({ ...targets, [severity]: { ...targets[severity], minutes: Number(e.target.value) } })}
                />
              </label>
              <label className="choice">
                <input
                  type="checkbox"
                  checked={targets[severity]?.businessHoursOnly ?? false}
                  onChange={(e) =>
                    setTargets({ ...targets, [severity]: { ...targets[severity], businessHoursOnly: e.target.checked } })
                  }
                />
                {t('settings.businessHoursOnly')}
              </label>
            </div>
          ))}
        </fieldset>
        <fieldset disabled={!canEdit}>
          <legend>{t('settings.openingHours')}</legend>
          <label>
            {t('settings.timezone')}
            <input value={timezone} onChange={(e) => setTimezone(e.target.value)} />
          </label>
          {days.map((day, weekday) => (
            <div key={weekday} className="row">
              <label className="choice">
                <input
                  type="checkbox"
                  checked={day.open}
                  onChange={(e) => setDays(days.map((d, i) => (i === weekday ? { ...d, open: e.target.checked } : d)))}
                />
                {weekdayName(weekday)}
              </label>
              {day.open && (
                <>
                  <label>
                    <span className="sr-only">{t('settings.opens', { day: weekdayName(weekday) })}</span>
                    <input type="time" value={day.opens} onChange={(e) => setDays(days.map((d, i) => (i === weekday ? { ...d, opens: e.target.value } : d)))} />
                  </label>
                  <label>
                    <span className="sr-only">{t('settings.closes', { day: weekdayName(weekday) })}</span>
                    <input type="time" value={day.closes} onChange={(e) => setDays(days.map((d, i) => (i === weekday ? { ...d, closes: e.target.value } : d)))} />
                  </label>
                </>
              )}
            </div>
          ))}
          <label>
            {t('settings.holidays')}
            <textarea rows={3} value={holidays} placeholder="2026-12-24" onChange={(e) => setHolidays(e.target.value)} />
          </label>
          <label>
            {t('settings.reminderAt')}
            <input type="number" min={1} max={99} value={reminder} onChange={(e) => setReminder(Number(e.target.value))} />
          </label>
        </fieldset>
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
