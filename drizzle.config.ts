import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './src/daemon/store/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.GLOBUS_TIMER_DB ?? './dev.sqlite' },
  strict: true,
  verbose: true,
});
