import { useQuery } from '@tanstack/react-query'
import { useEffect, useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { api, unwrap, type Schemas } from '../api/client'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { formatDateTime, formatTime } from '../i18n/format'
import { useClient } from '../queue/data'
import { isoFromLocal, localInput, useMembers, useRole, useSave } from './common'

type Layer = Schemas['LayerBody']
const ON_ROTA = new Set(['approver', 'executive'])
const REASONS = ['holiday', 'illness', 'other'] as const

/** Who is on duty: rotation layers, the stand-ins (overrides), and the coming gaps. */
export function RotaSection({ clientId }: { clientId: string }) {
  const { t, i18n } = useTranslation()
  const role = useRole(clientId)
  const canEdit = role === 'client_admin'
  const client = useClient(clientId)
  const members = useMembers(clientId)
  const rota = useQuery({
    queryKey: ['rota', clientId],
    queryFn: () => unwrap(api.GET('/api/v1/clients/{client_id}/rota', { params: { path: { client_id: clientId } } })),
  })
  const gaps = useQuery({
    queryKey: ['gaps', clientId],
    queryFn: () =>
      unwrap(api.GET('/api/v1/clients/{client_id}/rota/gaps', { params: { path: { client_id: clientId }, query: { days: 14 } } })),
  })
  const save = useSave(['rota', clientId], ['gaps', clientId], ['on-duty', clientId])
  const [layers, setLayers] = useState<Layer[]>([])
  const [override, setOverride] = useState({ substituteId: '', replaces: '', startsAt: '', endsAt: '', reason: 'holiday' as string })

  useEffect(() => {
    if (rota.data) {
      setLayers(
        (rota.data.layers as Schemas['LayerOut'][]).map((l) => ({
          participants: l.participants,
          startsAt: l.startsAt,
          rotation: l.rotation as Layer['rotation'],
          handoff: l.handoff,
          timezone: l.timezone,
          endsAt: l.endsAt,
        })),
      )
    }
  }, [rota.data])

  if (rota.isPending || members.isPending) return <Loading />
  if (rota.error) return <ErrorMessage error={rota.error} />
  const zone = client.data?.timezone ?? 'UTC'
  const people = (members.data?.items ?? []).filter((m) => m.clientId === clientId && ON_ROTA.has(m.role))
  const name = (userId: string | null | undefined) => {
    const person = (members.data?.items ?? []).find((m) => m.userId === userId)
    return person ? person.name || person.email : '—'
  }
  const when = (iso: string) => formatDateTime(iso, zone, i18n.language)
  const mine = (userId: string | null | undefined) => canEdit || (role !== null && userId !== undefined)

  async function saveLayers(event: FormEvent) {
    event.preventDefault()
    await save.run(() =>
      unwrap(
        api.PUT('/api/v1/clients/{client_id}/rota', {
          params: { path: { client_id: clientId } },
          body: { layers, gapContact: rota.data?.gapContact ?? null },
        }),
      ),
    )
  }

  async function addOverride(event: FormEvent) {
    event.preventDefault()
    const created = await save.run(() =>
      unwrap(
        api.POST('/api/v1/clients/{client_id}/rota/overrides', {
          params: { path: { client_id: clientId } },
          body: {
            substituteId: override.substituteId,
            replaces: override.replaces || null,
            startsAt: isoFromLocal(override.startsAt),
            endsAt: isoFromLocal(override.endsAt),
            reason: override.reason as 'holiday',
            note: '',
          },
        }),
      ),
    )
    if (created) setOverride({ ...override, startsAt: '', endsAt: '' })
  }

  return (
    <section aria-labelledby="rota">
      <h2 id="rota">{t('settings.rota')}</h2>
      <form className="stack" onSubmit={(e) => void saveLayers(e)}>
        {layers.map((layer, index) => (
          <fieldset key={index} disabled={!canEdit}>
            <legend>{t('settings.layer', { n: index + 1 })}</legend>
            <div className="actions">
              {people.map((p) => (
                <label key={p.userId} className="choice">
                  <input
                    type="checkbox"
                    checked={layer.participants.includes(p.userId)}
                    onChange={(e) =>
                      setLayers(
                        layers.map((l, i) =>
                          i === index
                            ? { ...l, participants: e.target.checked ? [...l.participants, p.userId] : l.participants.filter((u) => u !== p.userId) }
                            : l,
                        ),
                      )
                    }
                  />
                  {p.name || p.email}
                </label>
              ))}
            </div>
            <label>
              {t('settings.rotation')}
              <select
                value={layer.rotation}
                onChange={(e) => setLayers(layers.map((l, i) => (i === index ? { ...l, rotation: e.target.value as Layer['rotation'] } : l)))}
              >
                <option value="daily">{t('settings.daily')}</option>
                <option value="weekly">{t('settings.weekly')}</option>
              </select>
            </label>
            <label>
              {t('settings.handoff')}
              <input type="time" value={layer.handoff} onChange={(e) => setLayers(layers.map((l, i) => (i === index ? { ...l, handoff: e.target.value } : l)))} />
            </label>
            <label>
              {t('settings.startsAt')}
              <input
                type="datetime-local"
                value={localInput(layer.startsAt)}
                onChange={(e) => setLayers(layers.map((l, i) => (i === index ? { ...l, startsAt: isoFromLocal(e.target.value) } : l)))}
              />
            </label>
            {canEdit && (
              <button type="button" className="danger" onClick={() => setLayers(layers.filter((_, i) => i !== index))}>
                {t('settings.removeLayer')}
              </button>
            )}
          </fieldset>
        ))}
        {canEdit && (
          <div className="actions">
            <button
              type="button"
              onClick={() =>
                setLayers([...layers, { participants: [], rotation: 'weekly', handoff: '08:00', startsAt: new Date().toISOString(), timezone: zone, endsAt: null }])
              }
            >
              {t('settings.addLayer')}
            </button>
            <button type="submit" className="primary" disabled={save.busy}>
              {t('settings.save')}
            </button>
          </div>
        )}
      </form>
      <ErrorMessage error={save.error} />
      {save.saved && <p role="status">{t('settings.saved')}</p>}

      <h3>{t('settings.overrides')}</h3>
      <p className="muted">{t('settings.overridesHint')}</p>
      <ul className="plain" data-testid="overrides">
        {rota.data.overrides.map((o) => (
          <li key={o.id} className="row">
            <span>
              <strong>{name(o.substituteId)}</strong> {o.replaces && `${t('settings.standsInFor')} ${name(o.replaces)}`} · {when(o.startsAt)} – {when(o.endsAt)} ·{' '}
              {t(`settings.reasons.${o.reason}`)}
            </span>
            {mine(o.replaces) && (
              <button
                type="button"
                onClick={() =>
                  void save.run(() =>
                    unwrap(api.DELETE('/api/v1/rota-overrides/{override_id}', { params: { path: { override_id: o.id } } })),
                  )
                }
              >
                {t('settings.remove')}
              </button>
            )}
          </li>
        ))}
      </ul>
      <form className="stack" onSubmit={(e) => void addOverride(e)}>
        <label>
          {t('settings.substitute')}
          <select required value={override.substituteId} onChange={(e) => setOverride({ ...override, substituteId: e.target.value })}>
            <option value="">—</option>
            {people.map((p) => (
              <option key={p.userId} value={p.userId}>
                {p.name || p.email}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('settings.replaces')}
          <select value={override.replaces} onChange={(e) => setOverride({ ...override, replaces: e.target.value })}>
            <option value="">{t('settings.whoeverIsOnDuty')}</option>
            {people.map((p) => (
              <option key={p.userId} value={p.userId}>
                {p.name || p.email}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('settings.startsAt')}
          <input type="datetime-local" required value={override.startsAt} onChange={(e) => setOverride({ ...override, startsAt: e.target.value })} />
        </label>
        <label>
          {t('settings.endsAt')}
          <input type="datetime-local" required value={override.endsAt} onChange={(e) => setOverride({ ...override, endsAt: e.target.value })} />
        </label>
        <label>
          {t('settings.reason')}
          <select value={override.reason} onChange={(e) => setOverride({ ...override, reason: e.target.value })}>
            {REASONS.map((r) => (
              <option key={r} value={r}>
                {t(`settings.reasons.${r}`)}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={save.busy}>
          {t('settings.addOverride')}
        </button>
      </form>

      <h3>{t('settings.calendarOfOverrides')}</h3>
      {gaps.data && gaps.data.gaps.length === 0 && <p>{t('settings.noGaps')}</p>}
      <ol className="calendar" data-testid="rota-calendar">
        {calendarDays(new Date(), 14).map((day) => {
          const standIns = rota.data.overrides.filter((o) => overlaps(o.startsAt, o.endsAt, day))
          const holes = (gaps.data?.gaps ?? []).filter((g) => overlaps(g.startsAt, g.endsAt, day))
          return (
            <li key={day.start.toISOString()} className={holes.length ? 'gap' : ''}>
              <strong>{new Intl.DateTimeFormat(i18n.language, { weekday: 'short', day: 'numeric', month: 'short', timeZone: zone }).format(day.start)}</strong>
              {standIns.map((o) => (
                <span key={o.id}>
                  {name(o.substituteId)}
                  {o.replaces && ` ${t('settings.standsInFor')} ${name(o.replaces)}`} ({t(`settings.reasons.${o.reason}`)})
                </span>
              ))}
              {holes.map((g) => (
                <span key={g.startsAt} className="due due-soon">
                  {t('settings.nobody')} {formatTime(g.startsAt, zone, i18n.language)}–{formatTime(g.endsAt, zone, i18n.language)}
                </span>
              ))}
            </li>
          )
        })}
      </ol>
    </section>
  )
}

interface Day {
  start: Date
  end: Date
}

/** The next ``count`` days from the start of today (the browser's days). */
export function calendarDays(today: Date, count: number): Day[] {
  const first = new Date(today.getFullYear(), today.getMonth(), today.getDate())
  return Array.from({ length: count }, (_, i) => {
    const start = new Date(first.getFullYear(), first.getMonth(), first.getDate() + i)
    const end = new Date(first.getFullYear(), first.getMonth(), first.getDate() + i + 1)
    return { start, end }
  })
}

export function overlaps(startsAt: string, endsAt: string, day: Day): boolean {
  return Date.parse(startsAt) < day.end.getTime() && Date.parse(endsAt) > day.start.getTime()
}
