import { useState } from 'react'
import { useTranslation } from 'react-i18next'
import type { Schemas } from '../api/client'
import { useDraft } from '../api/queries'
import { ErrorMessage } from './ErrorMessage'

/** The word diff of a revision against the one before, as text (never as HTML). */
export function DiffText({ parts }: { parts: Schemas['DiffPart'][] }) {
  return (
    <p className="text diff">
      {parts.map((part, index) =>
        part.op === 'insert' ? (
          <ins key={index}>{part.text}</ins>
        ) : part.op === 'delete' ? (
          <del key={index}>{part.text}</del>
        ) : (
          <span key={index}>{part.text}</span>
        ),
      )}
    </p>
  )
}

/** On a queue card: what changed since the previous revision, fetched when opened. */
export function RevisionDiffOnDemand({ draftId }: { draftId: string }) {
  const { t } = useTranslation()
  const [open, setOpen] = useState(false)
  const detail = useDraft(draftId, open)
  const diff = detail.data?.revisions.at(-1)?.diff
  return (
    <details onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>{t('draft.changes')}</summary>
      <ErrorMessage error={detail.error} />
      {diff && <DiffText parts={diff} />}
    </details>
  )
}
