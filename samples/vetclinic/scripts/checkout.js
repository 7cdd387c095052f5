// A k6 script against the sample service's /checkout/submit: 40 checkouts a second for 2 s, open model.
// sk-loadagent runs it with `runner: k6` (samples/vetclinic/plans/checkout-k6.plan.yaml) and passes the
// target in BASE_URL; run it alone with: k6 run -e BASE_URL=http://127.0.0.1:8080 checkout.js
import http from "k6/http";
import { check } from "k6";

export const options = {
  scenarios: {
    checkout: {
      executor: "constant-arrival-rate",
      rate: 40,
      timeUnit: "1s",
      duration: "2s",
      preAllocatedVUs: 10,
      maxVUs: 40,
    },
  },
};

const BASE_URL = __ENV.BASE_URL || "http://127.0.0.1:8080";
const order = JSON.stringify({ cartId: "cart-1001", customerId: "cust-77", amount: 129.5, currency: "EUR" });

export default function () {
  const response = http.post(`${BASE_URL}/checkout/submit`, order, {
    headers: { "Content-Type": "application/json" },
  });
  check(response, { "status is 200": (r) => r.status === 200 });
}
