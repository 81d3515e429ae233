/**
 * Prisma 7 CLI configuration (generate, migrate, studio). The connection URL lives here, not in
 * schema.prisma. `prisma generate` needs no database, so an unset DATABASE_URL is fine for it.
 */
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
