import { useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { useParams } from 'react-router'
import { api, unwrap, type Schemas } from '../api/client'
import { draftKey, useDraft } from '../api/queries'
import { useMe } from '../auth/session'
import { AGENCY_ROLES, roleAtClient } from '../auth/workspace'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'
import { DiffText } from '../components/RevisionDiff'
import { formatDateTime } from '../i18n/format'
import { useClient } from '../queue/data'

type Detail = Schemas['DraftDetail']

export function DraftPage() {
  const { draftId = '' } = useParams()
  const { t, i18n } = useTranslation()
  const queryClient = useQueryClient()
  const me = useMe()
  const detail = useDraft(draftId)
  const client = useClient(detail.data?.draft.clientId ?? '')
  const [error, setError] = useState<unknown>(null)

  if (detail.isPending) return <Loading />
  if (detail.error) return <ErrorMessage error={detail.error} />
  const { draft, revisions, decisions, comments, timeline, fallback } = detail.data
  const zone = client.data?.timezone ?? 'UTC'
  const role = roleAtClient(me.data?.memberships ?? [], draft.clientId, client.data?.agencyId)
  const isAgency = role !== null && AGENCY_ROLES.has(role) && role !== 'viewer'
  const current = revisions.at(-1)
  const when = (value: string | null | undefined) => formatDateTime(value, zone, i18n.language)

  async function act(call: () => Promise<unknown>) {
    setError(null)
    try {
      await call()
      await queryClient.invalidateQueries({ queryKey: draftKey(draftId) })
    } catch (failure) {
      setError(failure)
    }
  }
  const path = { params: { path: { draft_id: draftId } } }

  return (
    <section>
      <h1>
        {draft.title || t(draft.kind === 'reply' ? 'composer.titleReply' : 'composer.titlePost')}
        {client.data && <span className="subtitle"> · {client.data.name}</span>}
      </h1>
      <p>
        <span className={`status status-${draft.status}`} data-testid="draft-status">
          {t(`status.${draft.status}`)}
        </span>{' '}
        <span className={`badge severity-${draft.severity}`}>{t(`severity.${draft.severity}`)}</span>{' '}
        {draft.slaDueAt && draft.status === 'pending' && <span className="muted">{t('draft.due', { time: when(draft.slaDueAt) })}</span>}
      </p>
      <ErrorMessage error={error} onReload={() => void queryClient.invalidateQueries({ queryKey: draftKey(draftId) })} />
      {isAgency && (
        <div className="actions">
          {draft.status === 'draft' && (
            <button type="button" className="primary" onClick={() => void act(() => unwrap(api.POST('/api/v1/drafts/{draft_id}/submit', { ...path, body: { version: draft.version } })))}>
              {t('draft.submit')}
            </button>
          )}
          {['draft', 'pending', 'changes_requested', 'approved', 'scheduled'].includes(draft.status) && (
            <button type="button" className="danger" onClick={() => void act(() => unwrap(api.POST('/api/v1/drafts/{draft_id}/withdraw', { ...path, body: { version: draft.version } })))}>
              {t('draft.withdraw')}
            </button>
          )}
        </div>
      )}
      {fallback && (
        <article className="revision" data-testid="fallback" aria-labelledby="fallback-heading">
          <h2 id="fallback-heading">{t('draft.fallbackHeading')}</h2>
          <p>
            {t('draft.fallbackTaken', {
              action: t(`draft.fallbackAction.${fallback.action}`),
              step: fallback.step,
              time: when(fallback.takenAt),
            })}
          </p>
          {fallback.body && <p className="text wording">{fallback.body}</p>}
          {fallback.templateName && (
            <p className="muted">{t('draft.fallbackTemplate', { name: fallback.templateName })}</p>
          )}
        </article>
      )}
      {current && (
        <article className="revision">
          <h2>{t('draft.revision', { n: current.number })}</h2>
          {[current.body, ...current.alternatives].map((text, index) => (
            <p key={index} className="text wording">
              {current.alternatives.length > 0 && <strong>{index + 1}. </strong>}
              {text}
            </p>
          ))}
          {current.diff && current.number > 1 && (
            <>
              <h3>{t('draft.changes')}</h3>
              <DiffText parts={current.diff} />
            </>
          )}
          {current.rationale && <p className="muted text">{current.rationale}</p>}
        </article>
      )}
      {isAgency && ['draft', 'pending', 'changes_requested'].includes(draft.status) && current && (
        <NewRevision draft={draft} body={current.body} rationale={current.rationale} onSaved={() => void queryClient.invalidateQueries({ queryKey: draftKey(draftId) })} />
      )}
      <h2>{t('draft.decisions')}</h2>
      <ul className="plain">
        {decisions.map((d) => (
          <li key={d.id}>
            {t(`roles.${d.role}`)}: {t(`decision.${d.decision}`)} · {when(d.createdAt)} {d.comment && <q className="text">{d.comment}</q>}
          </li>
        ))}
      </ul>
      <h2>{t('draft.comments')}</h2>
      <ul className="plain">
        {comments.map((c) => (
          <li key={c.id}>
            <span className="muted">
              {when(c.createdAt)} · {t(`draft.${c.visibility}`)}
            </span>
            <p className="text">{c.body}</p>
          </li>
        ))}
      </ul>
      <CommentForm draftId={draftId} isAgency={isAgency} />
      <h2>{t('draft.timeline')}</h2>
      <ol className="timeline" data-testid="timeline">
        {timeline.map((e) => (
          <li key={e.id} data-type={e.type}>
            {i18n.exists(`events.${e.type}`) ? t(`events.${e.type}`, e.payload as Record<string, unknown>) : <code>{e.type}</code>}{' '}
            <span className="muted">
              {when(e.createdAt)}
              {e.actorKind === 'system' && ` · ${t('audit.system')}`}
            </span>
          </li>
        ))}
      </ol>
    </section>
  )
}

function NewRevision({
  draft,
  body,
  rationale,
  onSaved,
}: {
  draft: Detail['draft']
  body: string
  rationale: string
  onSaved: () => void
}) {
  const { t } = useTranslation()
  const [open, setOpen] = useState(false)
  const [text, setText] = useState(body)
  const [error, setError] = useState<unknown>(null)
  if (!open)
    return (
      <button type="button" onClick={() => setOpen(true)}>
        {t('draft.newRevision')}
      </button>
    )
  async function save(event: FormEvent) {
    event.preventDefault()
    setError(null)
    try {
      await unwrap(api.POST('/api/v1/drafts/{draft_id}/revisions', { params: { path: { draft_id: draft.id } }, body: { version: draft.version, body: text, rationale } }))
      setOpen(false)
      onSaved()
    } catch (failure) {
      setError(failure)
    }
  }
  return (
    <form className="stack" onSubmit={(e) => void save(e)}>
      <label>
        {t('composer.body')}
        <textarea value={text} onChange={(e) => setText(e.target.value)} rows={4} required />
      </label>
      <ErrorMessage error={error} onReload={onSaved} />
      <button type="submit" className="primary">
        {t('draft.saveRevision')}
      </button>
    </form>
  )
}

function CommentForm({ draftId, isAgency }: { draftId: string; isAgency: boolean }) {
  const { t } = useTranslation()
  const queryClient = useQueryClient()
  const [body, setBody] = useState('')
  const [internal, setInternal] = useState(false)
  const [error, setError] = useState<unknown>(null)
  async function send(event: FormEvent) {
    event.preventDefault()
    setError(null)
    try {
      await unwrap(
        api.POST('/api/v1/drafts/{draft_id}/comments', {
          params: { path: { draft_id: draftId } },
          body: { body, visibility: internal ? 'internal' : 'shared' },
        }),
      )
      setBody('')
      await queryClient.invalidateQueries({ queryKey: draftKey(draftId) })
    } catch (failure) {
      setError(failure)
    }
  }
  return (
    <form className="stack" onSubmit={(e) => void send(e)}>
      <label>
        {t('draft.addComment')}
        <textarea value={body} onChange={(e) => setBody(e.target.value)} rows={2} required />
      </label>
      {isAgency && (
        <label className="choice">
          <input type="checkbox" checked={internal} onChange={(e) => setInternal(e.target.checked)} />
          {t('draft.internalComment')}
        </label>
      )}
      <ErrorMessage error={error} />
      <button type="submit">{t('draft.send')}</button>
    </form>
  )
}
