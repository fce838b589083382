import { useTranslation } from 'react-i18next'
import { ApiError } from '../api/client'

/** Any failure as a readable message: the problem+json detail when the API sent one. */
export function errorText(
  error: unknown,
  t: (key: string, options?: Record<string, unknown>) => string,
): string {
  if (error instanceof ApiError && (error.status === 429 || error.status === 503)) {
    // The wait, in the reader's language (the API's own detail is English).
    const key = error.status === 429 ? 'errors.tooManyAttempts' : 'errors.busy'
    return t(key, { seconds: error.retryAfter ?? 1 })
  }
  if (error instanceof ApiError && error.breaksPolicy) {
    // Each severity the change would leave without a way to approve, in the reader's words.
    const items = (error.problem.errors ?? [])
      .map((e) => `${t(`severity.${e.field}`)}: ${e.message}`)
      .join('; ')
    return t('errors.policyImpossible', { items })
  }
  if (error instanceof ApiError) {
    const field = error.problem.errors?.[0]
    const detail = error.problem.detail || t('errors.generic')
    return field?.field && field.message ? `${detail} (${field.field}: ${field.message})` : detail
  }
  if (error instanceof TypeError) return t('errors.network')
  return t('errors.generic')
}

export function ErrorMessage({ error, onReload }: { error: unknown; onReload?: () => void }) {
  const { t } = useTranslation()
  if (!error) return null
  const conflict = error instanceof ApiError && error.isConflict
  return (
    <div role="alert" className="error">
      <p>{conflict ? `${t('queue.conflict')} ${errorText(error, t)}` : errorText(error, t)}</p>
      {conflict && onReload && (
        <button type="button" onClick={onReload}>
          {t('queue.reload')}
        </button>
      )}
    </div>
  )
}
