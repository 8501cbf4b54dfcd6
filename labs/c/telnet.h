/* telnet.h: protocol.md's rule 9, shared by the C servers' children.
 *
 * The byte 0xff (IAC) starts a telnet command, wherever it stands: IAC IAC is
 * one data byte 0xff; IAC WILL/WONT/DO/DONT x is removed, and each DO x is
 * answered IAC WONT x, each WILL x IAC DONT x; IAC SB ... IAC SE is removed;
 * IAC and any other byte is a two-byte command, removed. The state carries
 * over between reads, so a command split between two reads is still one.
 */
#define IAC 0xff
#define TN_DONT 0xfe
#define TN_DO 0xfd
#define TN_WONT 0xfc
#define TN_WILL 0xfb
#define TN_SB 0xfa
#define TN_SE 0xf0

static int tn_state, tn_verb; /* 0 data, 1 after IAC, 2 option due, 3 in SB, 4 IAC in SB */

/* telnet_byte takes the client's next byte. It returns 1 if the byte is
 * data (to be relayed), 0 if it belongs to a command. A refusal to send
 * back is put in reply, its length (0 or 3) in *reply_len. */
__attribute__((unused)) static int telnet_byte(unsigned char b, unsigned char reply[3], int *reply_len) {
    *reply_len = 0;
    switch (tn_state) {
    case 0:
        if (b != IAC) return 1;
        tn_state = 1;
        return 0;
    case 1:
        if (b == IAC) { tn_state = 0; return 1; } /* an escaped 0xff */
        if (b >= TN_WILL) { tn_verb = b; tn_state = 2; }
        else if (b == TN_SB) tn_state = 3;
        else tn_state = 0;
        return 0;
    case 2:
        if (tn_verb == TN_DO || tn_verb == TN_WILL) {
            reply[0] = IAC;
            reply[1] = tn_verb == TN_DO ? TN_WONT : TN_DONT;
            reply[2] = b;
            *reply_len = 3;
        }
        tn_state = 0;
        return 0;
    case 3:
        if (b == IAC) tn_state = 4;
        return 0;
    default:
        tn_state = b == TN_SE ? 0 : 3;
        return 0;
    }
}
