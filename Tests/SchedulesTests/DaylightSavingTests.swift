import Schedules
import Testing

// Zone facts used below (tzdata 2025, cross-checked with `zdump -v -c 2026,2027`):
// America/New_York  2026-03-08 07:00Z: 02:00 EST(-5) -> 03:00 EDT(-4), 02:00-02:59 skipped
//                   2026-11-01 06:00Z: 02:00 EDT(-4) -> 01:00 EST(-5), 01:00-01:59 twice
//                   (first pass 05:00Z-05:59Z, second pass 06:00Z-06:59Z)
// Australia/Lord_Howe 2026-04-04 15:00Z: 02:00 +11 -> 01:30 +10:30, 01:30-01:59 twice
//                   2026-10-03 15:30Z: 02:00 +10:30 -> 02:30 +11, 02:00-02:29 skipped
// Pacific/Chatham   2026-04-04 14:00Z: 03:45 +13:45 -> 02:45 +12:45, 02:45-03:44 twice
//                   2026-09-26 14:00Z: 02:45 +12:45 -> 03:45 +13:45, 02:45-03:44 skipped
// America/Santiago  2026-04-05 03:00Z: Apr 5 00:00 -03 -> Apr 4 23:00 -04, 23:00-23:59 twice
//                   2026-09-06 04:00Z: Sep 6 00:00 -04 -> 01:00 -03, 00:00-00:59 skipped
// Europe/London     2026-03-29 01:00Z: 01:00 GMT -> 02:00 BST, 01:00-01:59 skipped
//                   2026-10-25 01:00Z: 02:00 BST -> 01:00 GMT, 01:00-01:59 twice

@Suite struct NewYorkTransitions {
    static let cases: [SlotCase] = [
        // Fixed-time job in the spring gap: Mar 7 02:30 EST = 07:30Z; Mar 8 02:30 does not
        // exist -> fires once at the change, 07:00Z (03:00 EDT); Mar 9 02:30 EDT = 06:30Z.
        SlotCase("30 2 * * *", "America/New_York", after: "2026-03-07T00:00:00Z",
                 ["2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"], "spring gap, fixed"),
        // Autumn: 02:30 happens once (after the repeat, EST): Nov 1 02:30 EST = 07:30Z, Nov 2 too.
        SlotCase("30 2 * * *", "America/New_York", after: "2026-10-31T12:00:00Z",
                 ["2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"], "autumn, 02:30 not repeated"),
        // 01:30 exists on Mar 8 (EST, 06:30Z); Mar 9 01:30 EDT = 05:30Z.
        SlotCase("30 1 * * *", "America/New_York", after: "2026-03-07T12:00:00Z",
                 ["2026-03-08T06:30:00Z", "2026-03-09T05:30:00Z"], "spring, before the gap"),
        // Repeated 01:30: fixed-time job fires in the first pass only (EDT 05:30Z), then
        // Nov 2 01:30 EST = 06:30Z.
        SlotCase("30 1 * * *", "America/New_York", after: "2026-10-31T12:00:00Z",
                 ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"], "autumn, first pass only"),
        // Start inside the second pass (06:10Z = 01:10 EST): 01:30 EST (06:30Z) is not brought
        // back; next is Nov 2 01:30 EST = 06:30Z.
        SlotCase("30 1 * * *", "America/New_York", after: "2026-11-01T06:10:00Z",
                 ["2026-11-02T06:30:00Z"], "start in second pass"),
        // Start exactly on the first-pass slot: same answer.
        SlotCase("30 1 * * *", "America/New_York", after: "2026-11-01T05:30:00Z",
                 ["2026-11-02T06:30:00Z"], "start on first-pass slot"),
        // Wildcard job follows the wall clock: 01:45 EST = 06:45Z; 02:00-02:45 skipped;
        // 03:00 EDT = 07:00Z; 03:15 EDT = 07:15Z.
        SlotCase("*/15 * * * *", "America/New_York", after: "2026-03-08T06:40:00Z",
                 ["2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:15:00Z"], "spring, wildcard"),
        // Repeated hour fires in both passes: 01:45 EDT = 05:45Z, then 01:00..01:45 EST =
        // 06:00Z..06:45Z, then 02:00 EST = 07:00Z.
        SlotCase("*/15 * * * *", "America/New_York", after: "2026-11-01T05:40:00Z",
                 ["2026-11-01T05:45:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:15:00Z",
                  "2026-11-01T06:30:00Z", "2026-11-01T06:45:00Z", "2026-11-01T07:00:00Z"], "autumn, wildcard twice"),
        // 01:00 EST = 06:00Z; 02:00 skipped (wildcard: never fires); 03:00 EDT = 07:00Z; 04:00 EDT = 08:00Z.
        SlotCase("0 * * * *", "America/New_York", after: "2026-03-08T05:30:00Z",
                 ["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"], "spring, hourly"),
        // 01:00 EDT = 05:00Z and again 01:00 EST = 06:00Z; 02:00 EST = 07:00Z.
        SlotCase("0 * * * *", "America/New_York", after: "2026-11-01T04:30:00Z",
                 ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"], "autumn, hourly twice"),
        // @hourly is a wildcard job too.
        SlotCase("@hourly", "America/New_York", after: "2026-11-01T04:30:00Z",
                 ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"], "@hourly counts as wildcard"),
        // 02:15 and 02:45 both skipped -> one slot at the change (07:00Z); Mar 9 02:15/02:45 EDT = 06:15Z/06:45Z.
        SlotCase("15,45 2 * * *", "America/New_York", after: "2026-03-08T05:00:00Z",
                 ["2026-03-08T07:00:00Z", "2026-03-09T06:15:00Z", "2026-03-09T06:45:00Z"], "skipped matches collapse"),
        // Autumn: 02:15/02:45 EST once each = 07:15Z/07:45Z; Nov 2 02:15 EST = 07:15Z.
        SlotCase("15,45 2 * * *", "America/New_York", after: "2026-11-01T04:00:00Z",
                 ["2026-11-01T07:15:00Z", "2026-11-01T07:45:00Z", "2026-11-02T07:15:00Z"], "autumn, list"),
        // Start one second before the change: the gap slot is exactly the change instant.
        SlotCase("30 2 * * *", "America/New_York", after: "2026-03-08T06:59:59Z",
                 ["2026-03-08T07:00:00Z"], "start just before the change"),
        // Start on the change: the gap slot is not repeated; next is Mar 9 02:30 EDT = 06:30Z.
        SlotCase("30 2 * * *", "America/New_York", after: "2026-03-08T07:00:00Z",
                 ["2026-03-09T06:30:00Z"], "start on the change"),
    ]

    @Test(arguments: cases) func slots(_ row: SlotCase) throws { try row.check() }
}

@Suite struct OtherZoneTransitions {
    static let cases: [SlotCase] = [
        // Lord_Howe spring (30 min): 01:50 +10:30 is 15:20Z; 02:00, 02:15 skipped;
        // 02:30 +11 = 15:30Z; 02:45 +11 = 15:45Z.
        SlotCase("*/15 * * * *", "Australia/Lord_Howe", after: "2026-10-03T15:20:00Z",
                 ["2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z"], "Lord Howe spring, wildcard"),
        // 02:15 skipped -> fixed job fires at the change 15:30Z; Oct 5 02:15 +11 = Oct 4 15:15Z.
        SlotCase("15 2 * * *", "Australia/Lord_Howe", after: "2026-10-03T12:00:00Z",
                 ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"], "Lord Howe spring, fixed in gap"),
        // 02:45 is after the half-hour gap: 02:45 +11 = 15:45Z.
        SlotCase("45 2 * * *", "Australia/Lord_Howe", after: "2026-10-03T12:00:00Z",
                 ["2026-10-03T15:45:00Z"], "Lord Howe spring, fixed after gap"),
        // Lord_Howe autumn: 01:45 +11 = 14:45Z; back to 01:30 +10:30 = 15:00Z; 01:45 = 15:15Z;
        // 02:00 +10:30 = 15:30Z.
        SlotCase("*/15 * * * *", "Australia/Lord_Howe", after: "2026-04-04T14:40:00Z",
                 ["2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z", "2026-04-04T15:15:00Z", "2026-04-04T15:30:00Z"],
                 "Lord Howe autumn, half hour twice"),
        // 01:45 repeated: first pass +11 = 14:45Z only; Apr 6 01:45 +10:30 = Apr 5 15:15Z.
        SlotCase("45 1 * * *", "Australia/Lord_Howe", after: "2026-04-04T12:00:00Z",
                 ["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"], "Lord Howe autumn, fixed once"),
        // 01:00 is not in the repeated half hour: 01:00 +11 = 14:00Z; 02:00 +10:30 = 15:30Z; 03:00 = 16:30Z.
        SlotCase("0 * * * *", "Australia/Lord_Howe", after: "2026-04-04T13:30:00Z",
                 ["2026-04-04T14:00:00Z", "2026-04-04T15:30:00Z", "2026-04-04T16:30:00Z"], "Lord Howe autumn, hourly"),
        // Chatham spring at 02:45: 03:00 skipped -> fixed job fires at 14:00Z; Sep 28 03:00 +13:45 = Sep 27 13:15Z.
        SlotCase("0 3 * * *", "Pacific/Chatham", after: "2026-09-26T00:00:00Z",
                 ["2026-09-26T14:00:00Z", "2026-09-27T13:15:00Z"], "Chatham spring, fixed in gap"),
        // 02:30 precedes the gap: 02:30 +12:45 = 13:45Z.
        SlotCase("30 2 * * *", "Pacific/Chatham", after: "2026-09-26T00:00:00Z",
                 ["2026-09-26T13:45:00Z"], "Chatham spring, before gap"),
        // 02:30 +12:45 = 13:45Z; 03:00 and 03:30 skipped; 04:00 +13:45 = 14:15Z.
        SlotCase("*/30 * * * *", "Pacific/Chatham", after: "2026-09-26T13:40:00Z",
                 ["2026-09-26T13:45:00Z", "2026-09-26T14:15:00Z"], "Chatham spring, wildcard"),
        // 03:00 repeated: first pass +13:45 = 13:15Z; Apr 6 03:00 +12:45 = Apr 5 14:15Z.
        SlotCase("0 3 * * *", "Pacific/Chatham", after: "2026-04-04T00:00:00Z",
                 ["2026-04-04T13:15:00Z", "2026-04-05T14:15:00Z"], "Chatham autumn, fixed once"),
        // 03:30 +13:45 = 13:45Z; 03:00 +12:45 = 14:15Z; 03:30 = 14:45Z; 04:00 = 15:15Z.
        SlotCase("*/30 * * * *", "Pacific/Chatham", after: "2026-04-04T13:40:00Z",
                 ["2026-04-04T13:45:00Z", "2026-04-04T14:15:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:15:00Z"],
                 "Chatham autumn, wildcard twice"),
        // Santiago spring at midnight: Sep 5 00:00 -04 = 04:00Z; Sep 6 00:00 skipped -> change
        // instant 04:00Z; Sep 7 00:00 -03 = 03:00Z.
        SlotCase("0 0 * * *", "America/Santiago", after: "2026-09-05T00:00:00Z",
                 ["2026-09-05T04:00:00Z", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"], "Santiago midnight gap"),
        // Santiago autumn: Apr 4 00:00 -03 = 03:00Z; Apr 5 00:00 exists once, -04 = 04:00Z; Apr 6 04:00Z.
        SlotCase("0 0 * * *", "America/Santiago", after: "2026-04-03T12:00:00Z",
                 ["2026-04-04T03:00:00Z", "2026-04-05T04:00:00Z", "2026-04-06T04:00:00Z"], "Santiago autumn midnight"),
        // Wildcard: Apr 4 23:00 -03 = 02:00Z and 23:00 -04 = 03:00Z; Apr 5 00:00 -04 = 04:00Z.
        SlotCase("0 * * * *", "America/Santiago", after: "2026-04-05T01:30:00Z",
                 ["2026-04-05T02:00:00Z", "2026-04-05T03:00:00Z", "2026-04-05T04:00:00Z"], "Santiago 23:00 twice"),
        // Fixed 23:00: first pass only (02:00Z Apr 5); Apr 5 23:00 -04 = Apr 6 03:00Z.
        SlotCase("0 23 * * *", "America/Santiago", after: "2026-04-05T01:00:00Z",
                 ["2026-04-05T02:00:00Z", "2026-04-06T03:00:00Z"], "Santiago 23:00 once"),
        // Start in the first pass after the slot (02:30Z = 23:30 -03): second pass not brought back.
        SlotCase("0 23 * * *", "America/Santiago", after: "2026-04-05T02:30:00Z",
                 ["2026-04-06T03:00:00Z"], "Santiago start between passes"),
        // London spring: 01:30 skipped -> change 01:00Z; Mar 30 01:30 BST = 00:30Z.
        SlotCase("30 1 * * *", "Europe/London", after: "2026-03-28T12:00:00Z",
                 ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"], "London spring gap"),
        // London autumn: first pass 01:30 BST = 00:30Z; Oct 26 01:30 GMT = 01:30Z.
        SlotCase("30 1 * * *", "Europe/London", after: "2026-10-24T12:00:00Z",
                 ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"], "London autumn first pass"),
        // Start inside the second pass (01:10Z = 01:10 GMT): next day 01:30 GMT = 01:30Z.
        SlotCase("30 1 * * *", "Europe/London", after: "2026-10-25T01:10:00Z",
                 ["2026-10-26T01:30:00Z"], "London start in second pass"),
        // Weekdays 09:00: Fri Mar 27 2026 noon -> Mon Mar 30 09:00 BST = 08:00Z; Tue 08:00Z.
        SlotCase("0 9 * * 1-5", "Europe/London", after: "2026-03-27T12:00:00Z",
                 ["2026-03-30T08:00:00Z", "2026-03-31T08:00:00Z"], "London weekdays across spring"),
        // Berlin footer rule, 2100: last Sunday of March 2100 is Mar 28; 02:30 skipped ->
        // change at 01:00Z (02:00 CET -> 03:00 CEST).
        SlotCase("30 2 * * *", "Europe/Berlin", after: "2100-03-27T12:00:00Z",
                 ["2100-03-28T01:00:00Z", "2100-03-29T00:30:00Z"], "Berlin 2100 from footer"),
    ]

    @Test(arguments: cases) func slots(_ row: SlotCase) throws { try row.check() }
}
