import { InvalidField, InvalidPage, InvalidPageSize } from '../../lib/http/errors.ts';

const DEFAULT_PAGE_SIZE = 25;
const MAX_PAGE_SIZE = 1000;

export interface Page<T> {
  items: T[];
  links: Record<string, string>;
  meta: { totalRecords: number; totalPages: number };
}

/**
 * CDS pagination: `page` (from 1) and `page-size` (default 25, at most 1000) as query parameters;
 * links to the first, previous, next and last pages beside `self`. A page beyond the last is 422
 * Field/InvalidPage; a malformed value is 400.
 */
export function paginate<T>(
  items: readonly T[],
  query: Record<string, string | undefined>,
  self: URL,
): Page<T> {
  const page = positiveInteger(query.page, 1, 'page', InvalidField);
  const size = positiveInteger(query['page-size'], DEFAULT_PAGE_SIZE, 'page-size', InvalidPageSize);
  if (size > MAX_PAGE_SIZE) throw new InvalidPageSize(`page-size must be at most ${MAX_PAGE_SIZE}`);
  const totalPages = Math.ceil(items.length / size);
  if (page > Math.max(totalPages, 1))
    throw new InvalidPage(`page ${page} is beyond the last page (${totalPages})`);
  const linkTo = (number: number) => {
    const url = new URL(self);
    url.searchParams.set('page', String(number));
    url.searchParams.set('page-size', String(size));
    return url.toString();
  };
  const links: Record<string, string> = { self: self.toString() };
  if (totalPages > 0) {
    links.first = linkTo(1);
    links.last = linkTo(totalPages);
    if (page > 1) links.prev = linkTo(page - 1);
    if (page < totalPages) links.next = linkTo(page + 1);
  }
  return {
    items: items.slice((page - 1) * size, page * size),
    links,
    meta: { totalRecords: items.length, totalPages },
  };
}

function positiveInteger(
  value: string | undefined,
  fallback: number,
  name: string,
  ErrorClass: new (detail: string) => Error,
): number {
  if (value === undefined) return fallback;
  if (!/^[1-9]\d{0,8}$/.test(value)) throw new ErrorClass(`${name} must be a positive integer`);
  return Number(value);
}
