"""舆情预警, one feature in one place: `detect` finds the episodes in what is stored, `message`
writes their Chinese text, `delivery` stores them and sends them (webhook, WeCom, DingTalk,
e-mail) with retries on the next run. The rules' names and periods are definitions
(`kernel.alerts`); the rows are `storage.alerts`."""
