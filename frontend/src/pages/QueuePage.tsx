import { useQueryClient } from '@tanstack/react-query'
import { memo, useCallback, useState } from 'react'
import { api, unwrap, type Schemas } from '../api/client'
import { useTranslation } from 'react-i18next'
import { Link, useParams } from 'react-router'
import { useMe } from '../auth/session'
import { DECIDING_ROLES, roleAtClient } from '../auth/workspace'
import { ErrorMessage } from '../components/ErrorMessage'
import { ClientNav } from '../components/ClientNav'
import { Loading } from '../components/Layout'
import { RevisionDiffOnDemand } from '../components/RevisionDiff'
import { formatDateTime } from '../i18n/format'
import { countdown } from '../queue/countdown'
import { decide, queueKey, useClient, useCrisis, useOnDuty, useQueue, type QueueItem } from '../queue/data'
import { useNow } from '../queue/useNow'

export function QueuePage() {
  const { clientId = '' } = useParams()
  const { t, i18n } = useTranslation()
  const me = useMe()
  const client = useClient(clientId)
  const queue = useQueue(clientId)
  const crisis = useCrisis(clientId)
  const onDuty = useOnDuty(clientId)
  const now = useNow()
  const role = roleAtClient(me.data?.memberships ?? [], clientId, client.data?.agencyId)
  const canDecide = role !== null && DECIDING_ROLES.has(role)
  const zone = client.data?.timezone ?? 'UTC'

  const [selection, setSelection] = useState<Record<string, Selected>>({})
  const [bulk, setBulk] = useState<{ results?: Schemas['BulkApproveResult'][]; error?: unknown }>({})
  const queryClient = useQueryClient()
  // Stable, so a card re-renders only when its own item or selection changes.
  const select = useCallback((item: QueueItem, wording: number | null) => {
    setSelection((current) => {
      const next = { ...current }
      if (wording === null) delete next[item.id]
      else next[item.id] = { wording }
      return next
    })
  }, [])

  if (queue.isPending) return <Loading />
  if (queue.error) return <ErrorMessage error={queue.error} />
  const page = queue.data
  // What was selected and has since left the queue is no longer selected.
  const chosen = page.items.filter((item) => selection[item.id])


  async function approveSelected() {
    setBulk({})
    try {
      const answer = await unwrap(
        api.POST('/api/v1/clients/{client_id}/queue/decisions', {
          params: { path: { client_id: clientId } },
          body: {
            items: chosen.map((item) => ({ draftId: item.id, version: item.version, wording: selection[item.id].wording })),
            comment: '',
          },
        }),
      )
      setBulk({ results: answer.results })
      setSelection({})
    } catch (failure) {
      setBulk({ error: failure })
    }
    await queryClient.invalidateQueries({ queryKey: queueKey(clientId) })
  }

  const failed = bulk.results?.filter((r) => !r.ok) ?? []

  return (
    <section>
      <h1>
        {t('queue.title')}
        {client.data && <span className="subtitle"> · {client.data.name}</span>}
      </h1>
      <ClientNav clientId={clientId} agencyId={client.data?.agencyId} />
      {crisis.data?.active && (
        <p className="banner crisis" role="alert">
          {t('severity.crisis')}: {crisis.data.reason || formatDateTime(crisis.data.startedAt, zone, i18n.language)}
        </p>
      )}
      {onDuty.data && (
        <p className="muted" data-testid="on-duty">
          {onDuty.data.onDuty ? t('queue.onDuty', { name: onDuty.data.onDuty.name }) : t('queue.nobodyOnDuty')}
          {onDuty.data.onDuty && onDuty.data.until && ` · ${t('queue.until', { time: formatDateTime(onDuty.data.until, zone, i18n.language) })}`}
        </p>
      )}
      <p className="muted">
        {t('queue.count', { count: page.total })} · {t('time.zone', { zone })}
      </p>
      {page.items.length === 0 && <p className="empty">{t('queue.empty')}</p>}
      {page.items.length < page.total && (
        <p className="notice">{t('queue.showingFirst', { shown: page.items.length, total: page.total })}</p>
      )}
      {canDecide && chosen.length > 0 && (
        <div className="bulk" role="region" aria-label={t('queue.bulk')}>
          <button type="button" className="primary" onClick={() => void approveSelected()}>
            {t('queue.approveSelected', { count: chosen.length })}
          </button>
          <button type="button" onClick={() => setSelection({})}>
            {t('queue.clearSelection')}
          </button>
        </div>
      )}
      {bulk.results && (
        <div role="status" className="notice">
          <p>{t('queue.bulkDone', { count: bulk.results.length - failed.length })}</p>
          {failed.length > 0 && (
            <ul>
              {failed.map((r) => (
                <li key={r.draftId}>{r.error?.detail}</li>
              ))}
            </ul>
          )}
        </div>
      )}
      <ErrorMessage error={bulk.error} />
      <ol className="queue" aria-label={t('queue.title')}>
        {page.items.map((item) => (
          <li key={item.id}>
            <QueueCard
              item={item}
              clientId={clientId}
              canDecide={canDecide}
              now={now}
              zone={zone}
              selected={Boolean(selection[item.id])}
              onSelect={select}
            />
          </li>
        ))}
      </ol>
    </section>
  )
}

interface Selected {
  wording: number
}

const QueueCard = memo(function QueueCard({
  item,
  clientId,
  canDecide,
  now,
  zone,
  selected,
  onSelect,
}: {
  item: QueueItem
  clientId: string
  canDecide: boolean
  now: number
  zone: string
  selected: boolean
  onSelect: (item: QueueItem, wording: number | null) => void
}) {
  const { t, i18n } = useTranslation()
  const queryClient = useQueryClient()
  const [wording, setWording] = useState<number | null>(item.wordings.length > 1 ? null : 0)
  const [asking, setAsking] = useState<'reject' | 'request_changes' | null>(null)
  const [comment, setComment] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)
  const due = item.slaDueAt ? countdown(item.slaDueAt, now) : null

  async function send(decision: 'approve' | 'reject' | 'request_changes') {
    setBusy(true)
    setError(null)
    try {
      await decide(item, decision, decision === 'approve' ? '' : comment, decision === 'approve' ? wording : null)
      await queryClient.invalidateQueries({ queryKey: queueKey(clientId) })
    } catch (failure) {
      setError(failure)
    } finally {
      setBusy(false)
    }
  }

  const reload = () => {
    setError(null)
    void queryClient.invalidateQueries({ queryKey: queueKey(clientId) })
  }

  return (
    <article className={`item severity-${item.severity}`} aria-labelledby={`item-${item.id}`}>
      <header>
        {canDecide && (
          <label className="choice select">
            <input
              type="checkbox"
              checked={selected}
              disabled={wording === null}
              onChange={(e) => onSelect(item, e.target.checked ? wording : null)}
            />
            <span className="sr-only">{t('queue.select', { title: item.title || item.body.slice(0, 40) })}</span>
          </label>
        )}
        <span className={`badge severity-${item.severity}`}>{t(`severity.${item.severity}`)}</span>
        {due && (
          <span className={`due due-${due.urgency}`} title={formatDateTime(item.slaDueAt, zone, i18n.language)}>
            {due.urgency === 'overdue' ? t('queue.overdue', { time: due.label }) : t('queue.dueIn', { time: due.label })}
          </span>
        )}
        <span className="muted channel">
          {item.channel.displayName} · {item.channel.platform}
        </span>
      </header>
      <h2 id={`item-${item.id}`} className="item-title">
        <Link to={`/drafts/${item.id}`}>{item.title || t(item.kind === 'reply' ? 'composer.titleReply' : 'composer.titlePost')}</Link>
      </h2>
      <div className="columns">
        {item.inboundItem && (
          <blockquote className="inbound">
            <p className="muted">
              {t('queue.answers')} {item.inboundItem.authorName} ({item.inboundItem.authorHandle})
            </p>
            <p className="text">{item.inboundItem.body}</p>
          </blockquote>
        )}
        <div className="wordings">
          {item.wordings.map((text, index) => (
            <div key={index} className="wording">
              {item.wordings.length > 1 ? (
                <label className="choice">
                  <input
                    type="radio"
                    name={`wording-${item.id}`}
                    checked={wording === index}
                    onChange={() => {
                      setWording(index)
                      if (selected) onSelect(item, index)
                    }}
                  />
                  {t('queue.wording', { n: index + 1 })}
                </label>
              ) : null}
              <p className="text">{text}</p>
            </div>
          ))}
        </div>
      </div>
      {(item.revisionNumber ?? 1) > 1 && <RevisionDiffOnDemand draftId={item.id} />}
      {item.rationale && (
        <details>
          <summary>{t('queue.rationale')}</summary>
          <p className="text">{item.rationale}</p>
        </details>
      )}
      <ErrorMessage error={error} onReload={reload} />
      {canDecide && !asking && (
        <div className="actions">
          <button
            type="button"
            className="primary"
            disabled={busy || wording === null}
            title={wording === null ? t('queue.chooseWording') : undefined}
            onClick={() => void send('approve')}
          >
            {t('queue.approve')}
          </button>
          <button type="button" disabled={busy} onClick={() => setAsking('request_changes')}>
            {t('queue.requestChanges')}
          </button>
          <button type="button" className="danger" disabled={busy} onClick={() => setAsking('reject')}>
            {t('queue.reject')}
          </button>
        </div>
      )}
      {canDecide && asking && (
        <form
          className="stack"
          onSubmit={(e) => {
            e.preventDefault()
            void send(asking)
          }}
        >
          <label>
            {t('queue.commentRequired')}
            <textarea required value={comment} onChange={(e) => setComment(e.target.value)} rows={3} />
          </label>
          <div className="actions">
            <button type="submit" className={asking === 'reject' ? 'danger' : 'primary'} disabled={busy || !comment.trim()}>
              {asking === 'reject' ? t('queue.confirmReject') : t('queue.confirmChanges')}
            </button>
            <button type="button" onClick={() => setAsking(null)}>
              {t('queue.cancel')}
            </button>
          </div>
        </form>
      )}
    </article>
  )
})
