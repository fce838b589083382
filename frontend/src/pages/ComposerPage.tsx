import { useQuery } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { useTranslation } from 'react-i18next'
import { useNavigate, useParams, useSearchParams } from 'react-router'
import { api, unwrap } from '../api/client'
import { useApprovedTemplates, useInbox } from '../api/queries'
import { ErrorMessage } from '../components/ErrorMessage'
import { Loading } from '../components/Layout'

const MAX_ALTERNATIVES = 2

/** A post for a channel, or a reply to an inbound item, with up to three wordings. */
export function ComposerPage() {
  const { clientId = '' } = useParams()
  const [params] = useSearchParams()
  const inboundItemId = params.get('inboundItemId')
  const { t } = useTranslation()
  const navigate = useNavigate()
  const channels = useQuery({
    queryKey: ['channels', clientId],
    queryFn: () => unwrap(api.GET('/api/v1/clients/{client_id}/channels', { params: { path: { client_id: clientId } } })),
  })
  const inbox = useInbox(clientId, inboundItemId !== null)
  const templates = useApprovedTemplates(clientId)
  const [channelId, setChannelId] = useState('')
  const [body, setBody] = useState('')
  const [alternatives, setAlternatives] = useState<string[]>([])
  const [rationale, setRationale] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [busy, setBusy] = useState(false)

  if (channels.isPending || (inboundItemId && inbox.isPending)) return <Loading />
  if (channels.error) return <ErrorMessage error={channels.error} />
  const item = inbox.data?.items.find((i) => i.id === inboundItemId)
  const channel = channels.data.items.find((c) => c.id === (item ? item.channelId : channelId || channels.data.items[0]?.id))
  const limit = channel?.textLimit ?? 0
  const isReply = Boolean(item)

  async function save(event: FormEvent, submit: boolean) {
    event.preventDefault()
    setBusy(true)
    setError(null)
    try {
      const draft = await unwrap(
        api.POST('/api/v1/clients/{client_id}/drafts', {
          params: { path: { client_id: clientId } },
          body: {
            kind: isReply ? 'reply' : 'post',
            title: '',
            body,
            channelId: isReply ? undefined : channel?.id,
            inboundItemId: item?.id,
            alternatives: alternatives.filter((a) => a.trim()),
            rationale,
          },
        }),
      )
      if (submit) {
        await unwrap(api.POST('/api/v1/drafts/{draft_id}/submit', { params: { path: { draft_id: draft.id } }, body: { version: draft.version } }))
      }
      navigate(`/drafts/${draft.id}`)
    } catch (failure) {
      setError(failure)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section>
      <h1>{isReply ? t('composer.titleReply') : t('composer.titlePost')}</h1>
      {item && (
        <blockquote className="inbound">
          <p className="muted">
            {t('composer.answering')} {item.authorName} ({item.authorHandle})
          </p>
          <p className="text">{item.body}</p>
        </blockquote>
      )}
      <form className="stack" onSubmit={(e) => void save(e, true)}>
        {!isReply && (
          <label>
            {t('composer.channel')}
            <select value={channel?.id ?? ''} onChange={(e) => setChannelId(e.target.value)}>
              {channels.data.items.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.displayName} ({c.platform})
                </option>
              ))}
            </select>
          </label>
        )}
        {templates.data && templates.data.items.length > 0 && (
          <label>
            {t('composer.insertTemplate')}
            <select
              value=""
              onChange={(e) => {
                const chosen = templates.data.items.find((tpl) => tpl.id === e.target.value)
                if (chosen) setBody(body ? `${body}\n\n${chosen.body}` : chosen.body)
              }}
            >
              <option value="">—</option>
              {templates.data.items.map((tpl) => (
                <option key={tpl.id} value={tpl.id}>
                  {tpl.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <label>
          {t('composer.body')}
          <textarea value={body} onChange={(e) => setBody(e.target.value)} rows={5} required aria-describedby="count" />
        </label>
        <p id="count" className={body.length > limit ? 'due due-overdue' : 'muted'}>
          {t('composer.characters', { count: body.length, limit })}
        </p>
        {isReply && (
          <fieldset>
            <legend>{t('composer.alternatives')}</legend>
            {alternatives.map((text, index) => (
              <label key={index}>
                {t('composer.alternative', { n: index + 2 })}
                <textarea
                  rows={3}
                  value={text}
                  onChange={(e) => setAlternatives(alternatives.map((a, i) => (i === index ? e.target.value : a)))}
                />
              </label>
            ))}
            {alternatives.length < MAX_ALTERNATIVES && (
              <button type="button" onClick={() => setAlternatives([...alternatives, ''])}>
                {t('composer.addAlternative')}
              </button>
            )}
          </fieldset>
        )}
        <label>
          {t('composer.rationale')}
          <textarea value={rationale} onChange={(e) => setRationale(e.target.value)} rows={2} />
        </label>
        {body && (
          <div className="preview" aria-label={t('composer.preview')}>
            <p className="muted">{t('composer.preview')}</p>
            <p className="text">{body}</p>
          </div>
        )}
        <ErrorMessage error={error} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {t('composer.submit')}
          </button>
          <button type="button" disabled={busy} onClick={(e) => void save(e, false)}>
            {t('composer.saveDraft')}
          </button>
        </div>
      </form>
    </section>
  )
}
