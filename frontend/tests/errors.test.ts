import i18next from 'i18next'
import { describe, expect, it } from 'vitest'
import { ApiError } from '../src/api/client'
import { errorText } from '../src/components/ErrorMessage'
import { de } from '../src/i18n/de'
import { en } from '../src/i18n/en'

async function translator(lng: 'de' | 'en') {
  const instance = i18next.createInstance()
  await instance.init({ lng, resources: { de: { translation: de }, en: { translation: en } } })
  return instance.t.bind(instance) as (key: string, options?: Record<string, unknown>) => string
}

describe('error texts', () => {
  it('say how long to wait after too many sign-ins, in the reader’s language', async () => {
    const limited = new ApiError(429, { detail: 'Too many sign-in attempts. Try again later.' }, 4)
    expect(errorText(limited, await translator('de'))).toBe(
      'Zu viele Versuche. Bitte in 4 s erneut versuchen.',
    )
    expect(errorText(limited, await translator('en'))).toBe('Too many attempts. Try again in 4 s.')
  })

  it('say the server is busy on a 503, and show other problems’ own detail', async () => {
    const t = await translator('de')
    expect(errorText(new ApiError(503, { detail: 'busy' }, 1), t)).toBe(
      'Der Server ist ausgelastet. Bitte in 1 s erneut versuchen.',
    )
    expect(errorText(new ApiError(401, { detail: 'E-mail or password is wrong.' }), t)).toBe(
      'E-mail or password is wrong.',
    )
  })
})
