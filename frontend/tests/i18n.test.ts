import { describe, expect, it } from 'vitest'
import { de } from '../src/i18n/de'
import { en } from '../src/i18n/en'

function keys(value: object, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, child]) =>
    typeof child === 'object' && child !== null ? keys(child, `${prefix}${key}.`) : [`${prefix}${key}`],
  )
}

describe('translations', () => {
  it('have the same keys in German and English', () => {
    expect(keys(de).sort()).toEqual(keys(en).sort())
  })

  it('call the approve button Freigeben in German and Approve in English', () => {
    expect(de.queue.approve).toBe('Freigeben')
    expect(en.queue.approve).toBe('Approve')
  })

  it('leave no text empty', () => {
    for (const texts of [de, en]) {
      for (const key of keys(texts)) {
        const value = key.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], texts)
        expect(String(value).trim(), key).not.toBe('')
      }
    }
  })
})
