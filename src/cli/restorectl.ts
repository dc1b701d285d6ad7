#!/usr/bin/env node
import { restorectlProgram } from './restorectl/program.js';

await restorectlProgram().parseAsync(process.argv);
