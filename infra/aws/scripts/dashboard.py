"""Prints the template's SaleDashboard resource (infra/aws/template.yaml).

The dashboard body is JSON inside a `!Sub`, too long to keep by hand: change the widgets here,
run `python3 infra/aws/scripts/dashboard.py`, and replace the SaleDashboard resource in the
template with the output. tests/tests/template.rs fails while a metric in
shared/lambda/src/metrics.rs has no widget.
"""
import json
fns = [("SearchFunction","search"),("ConcertDetailFunction","concert-detail"),("SeatMapFunction","seat-map"),
 ("HttpAuthorizeFunction","http-authorize"),("QueueJoinFunction","queue-join"),("QueueStatusFunction","queue-status"),
 ("QueueLeaveFunction","queue-leave"),("QueueActivateFunction","queue-activate"),("SeatSelectFunction","seat-select"),
 ("SeatReleaseFunction","seat-release"),("HoldConfirmFunction","hold-confirm"),("HoldExpireFunction","hold-expire"),
 ("ReservationsFunction","reservations"),("PaymentWebhookFunction","payment-webhook"),
 ("AdminSalesPolicyFunction","admin-sales-policy"),("SaleStatusTickFunction","sale-status-tick"),
 ("WsAuthorizeFunction","ws-authorize"),("WsConnectFunction","ws-connect"),("WsDisconnectFunction","ws-disconnect"),
 ("WsMessageFunction","ws-message"),("PushDispatchFunction","push-dispatch"),("MigrateFunction","migrate")]
ticks = [("QueueActivateFunction","queue-activate"),("HoldExpireFunction","hold-expire"),("SaleStatusTickFunction","sale-status-tick")]

def search(metric, dims, stat, ident, label=None, **opts):
    d = {"expression": f"SEARCH('{{ticketrush,{','.join(dims)}}} MetricName=\"{metric}\"', '{stat}', 60)", "id": ident}
    if label is not None:
        d["label"] = label
    d.update(opts)
    return [[d]]

F = ["function"]; FC = ["concert", "function"]; FS = ["function", "store"]
def metric(title, metrics, x, y, w=8, h=6, stat="Sum", **props):
    p = {"title": title, "region": "${AWS::Region}", "view": "timeSeries", "stacked": False,
         "period": 60, "stat": stat, "metrics": metrics}
    p.update(props)
    return {"type": "metric", "x": x, "y": y, "width": w, "height": h, "properties": p}
def text(md, y, h=1):
    return {"type": "text", "x": 0, "y": y, "width": 24, "height": h, "properties": {"markdown": md}}
lam = lambda name, fid, crate, **o: ["AWS/Lambda", name, "FunctionName", "${%s}" % fid] + ([dict(label=crate, **o)])

main = []
y = 0
main.append(text("# ticketrush: a sale\nCustom metrics: namespace `ticketrush` (`shared/lambda/src/metrics.rs`). Each alarm names its section of `infra/aws/RUNBOOK.md`.", y, 2)); y += 2
main.append(text("## Waiting room (per concert)", y)); y += 1
main += [
 metric("Waiting-room depth", search("WaitingRoomDepth", FC, "Maximum", "depth", "${PROP('Dim.concert')}"), 0, y, 6, stat="Maximum"),
 metric("Admits per minute; joins", search("Admits", FC, "Sum", "admits", "admits ${PROP('Dim.concert')}") + search("QueueJoins", F, "Sum", "joins", "joins"), 6, y, 6),
 metric("Active buyers (admitted, valid)", search("ActiveBuyers", FC, "Maximum", "active", "${PROP('Dim.concert')}"), 12, y, 6, stat="Maximum"),
 metric("Estimated wait of the last in line (s)", search("LastInLineWait", FC, "Maximum", "wait", "${PROP('Dim.concert')}"), 18, y, 6, stat="Maximum"),
]; y += 6
main.append(text("## Seats, holds, payments", y)); y += 1
main += [
 metric("Seat selects and soft-lock conflicts", search("SeatSelects", F, "Sum", "selects", "selects") + search("SoftLockConflicts", F, "Sum", "conflicts", "conflicts"), 0, y),
 metric("Holds made, expired, confirmed", search("HoldsMade", F, "Sum", "made", "made") + search("HoldsExpired", F, "Sum", "expired", "expired") + search("HoldsConfirmed", F, "Sum", "confirmed", "confirmed ${PROP('Dim.function')}"), 8, y),
 metric("Payments", search("PaymentsApproved", F, "Sum", "approved", "approved ${PROP('Dim.function')}") + search("PaymentsDenied", F, "Sum", "denied", "denied ${PROP('Dim.function')}") + search("PaymentsPending", F, "Sum", "pending", "pending") + search("PaymentsRefundDue", F, "Sum", "refunddue", "refund due"), 16, y),
]; y += 6
main.append(text("## Live push", y)); y += 1
main += [
 metric("Pushes delivered, gone, failed, throttled", search("PushesDelivered", F, "Sum", "delivered", "delivered") + search("PushesGone", F, "Sum", "gone", "gone") + search("PushesFailed", F, "Sum", "failed", "failed") + search("PushesThrottled", F, "Sum", "throttled", "throttled") + search("PushTokensExpired", F, "Sum", "tokens", "token expired"), 0, y),
 metric("Push queue age (s; alarm at 30)", [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", "${PushQueue.QueueName}", {"label": "oldest message (SQS)"}]] + search("PushQueueAge", F, "Maximum", "batchage", "oldest of a batch at dispatch (ms)", yAxis="right"), 8, y, stat="Maximum",
        annotations={"horizontal": [{"label": "alarm", "value": 30}]}),
 metric("Push queue and dead-letter queue", [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${PushQueue.QueueName}", {"label": "push queue"}], ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${PushDeadLetterQueue.QueueName}", {"label": "DLQ (alarm above 0)"}]], 16, y, stat="Maximum"),
]; y += 6
main.append(text("## Functions", y)); y += 1
main += [
 metric("HTTP API answers", [["AWS/ApiGateway", "Count", "ApiId", "${HttpApi}", {"label": "requests"}], ["AWS/ApiGateway", "4xx", "ApiId", "${HttpApi}", {"label": "4xx (429: throttled)"}], ["AWS/ApiGateway", "5xx", "ApiId", "${HttpApi}", {"label": "5xx"}]], 0, y, 6),
 metric("Errors per function", [lam("Errors", fid, c) for fid, c in fns], 6, y, 6),
 metric("Throttles per function (at reserved concurrency)", [lam("Throttles", fid, c) for fid, c in fns], 12, y, 6),
 metric("Store errors answered, by store", search("StoreErrors", FS, "Sum", "store", "${PROP('Dim.store')} ${PROP('Dim.function')}"), 18, y, 6),
]; y += 6
main.append(text("## Ticks", y)); y += 1
main += [
 metric("Tick duration (ms, slowest)", search("TickDuration", F, "Maximum", "tickmax", "max ${PROP('Dim.function')}") + search("TickDuration", F, "p50", "tickp50", "p50 ${PROP('Dim.function')}"), 0, y, stat="Maximum"),
 metric("Ticks run, skipped, failed", search("TicksRun", F, "Sum", "run", "run ${PROP('Dim.function')}") + search("TicksSkipped", F, "Sum", "skipped", "skipped ${PROP('Dim.function')}") + search("TicksFailed", F, "Sum", "tfailed", "failed ${PROP('Dim.function')}"), 8, y),
 metric("Scheduled invocations (alarm below 1 for 3 min)", [lam("Invocations", fid, c) for fid, c in ticks], 16, y),
]; y += 6
stores_y = y

def body(ws):
    return ",\n".join(json.dumps(w, separators=(",", ":")) for w in ws)

rds_y = stores_y + 1
rds = [text("## PostgreSQL", stores_y),
  metric("PostgreSQL connections (planned max 80, alarm at 72)", [
   ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "${Database}", {"label": "instance"}],
   ["AWS/RDS", "DatabaseConnections", "ProxyName", "${DatabaseProxy}", {"label": "proxy to instance"}],
   ["AWS/RDS", "ClientConnections", "ProxyName", "${DatabaseProxy}", {"label": "functions to proxy"}],
   ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "${Database}", {"label": "instance CPU %", "yAxis": "right"}]],
   0, rds_y, 12, stat="Maximum", annotations={"horizontal": [{"label": "alarm", "value": 72}, {"label": "planned max_connections", "value": 80}]})]
redis = [text("## Redis", stores_y + 7),
  metric("Redis engine CPU % (alarm at 80)", [["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", "${Redis}-00%d" % n, {"label": "node %d" % n}] for n in (1, 2, 3)],
   0, stores_y + 8, 12, stat="Maximum", annotations={"horizontal": [{"label": "alarm", "value": 80}]}),
  metric("Redis evictions and memory", [["AWS/ElastiCache", "Evictions", "CacheClusterId", "${Redis}-00%d" % n, {"label": "evictions node %d" % n}] for n in (1, 2, 3)]
   + [["AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", "${Redis}-00%d" % n, {"label": "memory %% node %d" % n, "stat": "Maximum", "yAxis": "right"}] for n in (1, 2, 3)],
   12, stores_y + 8, 12)]

def block(s, indent):
    return "\n".join(" " * indent + l for l in s.split("\n"))

yaml = f"""  # The sale at a glance. Custom metrics by SEARCH on their name and dimensions, so every
  # function that records one shows; tests/tests/template.rs checks each against metrics.rs.
  SaleDashboard:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardName: !Sub "${{AWS::StackName}}-sale"
      DashboardBody: !Join
        - ""
        - - !Sub |
{block('{"widgets": [' + chr(10) + body(main), 12)}
          - !If
            - CreateDatabase
            - !Sub |
{block("," + body(rds), 16)}
            - ""
          - !If
            - CreateRedis
            - !Sub |
{block("," + body(redis), 16)}
            - ""
          - "]}}"
"""
import sys
sys.stdout.write(yaml.replace("${PROP(", "${!PROP("))
# sanity: the joined JSON parses
full = '{"widgets": [' + body(main) + "," + body(rds) + "," + body(redis) + "]}"
json.loads(full)
