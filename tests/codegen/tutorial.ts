// The tutorial's persistent-tape example through types generated from the served OpenAPI
// document (openapi-typescript writes schema.d.ts next to this file before tsc runs).
import type { components, paths } from "./schema.js";

type RunRequest = components["schemas"]["RunRequest"];
type RunResponse = paths["/v1/run"]["post"]["responses"][200]["content"]["application/json"];
type Problem = components["schemas"]["Problem"];

const x = Number(process.env.GRADTAPE_X ?? "3");
const request: RunRequest = {
  inputs: { x: { data: x, dtype: "float64" } }, // JSON writes 3.0 as 3, an integer: say the dtype
  program: [
    {
      tape: "t",
      persistent: true,
      watch: ["x"],
      body: [
        { op: "multiply", args: ["x", "x"], out: "y" },
        { op: "multiply", args: ["y", "y"], out: "z" },
      ],
    },
    { gradient: "t", target: "z", sources: "x", out: "dz_dx" },
    { gradient: "t", target: "y", sources: "x", out: "dy_dx" },
  ],
  outputs: ["dz_dx", "dy_dx"],
};

// The generated types are precise enough to refuse these (tsc fails if one is accepted).
// @ts-expect-error a run request needs a program
const noProgram: RunRequest = { inputs: {} };
// @ts-expect-error one spelling per dtype: the alias FP32 is documented, not typed
const alias: components["schemas"]["DType"] = "FP32";
// @ts-expect-error options has no such key
const typo: RunRequest = { program: [], options: { encodng: "json" } };
// Optional fields with defaults stay optional; op attrs are an open object.
const defaults: RunRequest = { program: [{ op: "sum", args: ["x"], attrs: { axis: 0 }, out: "s" }] };
void [noProgram, alias, typo, defaults];

async function post<T>(path: string, body: unknown): Promise<[number, T]> {
  const response = await fetch(`${process.env.GRADTAPE_URL}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return [response.status, (await response.json()) as T];
}

const [status, result] = await post<RunResponse>("/v1/run", request);
if (status !== 200) throw new Error(`status ${status}: ${JSON.stringify(result)}`);
const [badStatus, problem] = await post<Problem>("/v1/run", { ...request, outputs: ["1x"] });
console.log(
  JSON.stringify({
    dz_dx: result.outputs["dz_dx"]?.data,
    dy_dx: result.outputs["dy_dx"]?.data,
    problem: [badStatus, problem.code, problem.pointer],
  }),
);
