#!/usr/bin/env node
import { agentProgram } from './agent/program.js';

await agentProgram().parseAsync(process.argv);
