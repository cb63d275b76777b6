package promtext

import "testing"

func TestParseStat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    stat
		wantErr bool
	}{
		{
			name: "plain",
			in:   "24604 (cat) R 24600 24600 21475 0 -1 4194304 98 0 0 0 7 3 0 0 20 0 1 0 1156167 3133440 349 18446744073709551615 0\n",
			want: stat{utime: 7, stime: 3, starttime: 1156167, vsize: 3133440, rss: 349},
		},
		{
			name: "command name with spaces and parentheses",
			in:   "1 (a) b (c) S 0 1 1 0 -1 4194560 1 2 3 4 150 25 0 0 20 0 4 0 99 1000000 200 18446744073709551615\n",
			want: stat{utime: 150, stime: 25, starttime: 99, vsize: 1000000, rss: 200},
		},
		{name: "truncated", in: "1 (x) S 0 1 1 0", wantErr: true},
		{name: "no command", in: "1 x S", wantErr: true},
		{name: "not a number", in: "1 (x) S 0 1 1 0 -1 1 1 2 3 4 x 25 0 0 20 0 4 0 99 1000000 200 1\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStat = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseNetstat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantIn  uint64
		wantOut uint64
		wantErr bool
	}{
		{
			name: "linux 6",
			in: "TcpExt: SyncookiesSent SyncookiesRecv\nTcpExt: 0 0\n" +
				"IpExt: InNoRoutes InTruncatedPkts InOctets OutOctets InMcastOctets\nIpExt: 0 0 6929730710 6561182963 0\n",
			wantIn: 6929730710, wantOut: 6561182963,
		},
		{name: "no IpExt", in: "TcpExt: A\nTcpExt: 1\n", wantErr: true},
		{name: "names only", in: "IpExt: InOctets OutOctets\n", wantErr: true},
		{name: "values missing", in: "IpExt: InOctets OutOctets\nIpExt: 1\n", wantErr: true},
		{name: "no OutOctets", in: "IpExt: InOctets X\nIpExt: 1 2\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, out, err := parseNetstat([]byte(tt.in))
			if (err != nil) != tt.wantErr || in != tt.wantIn || out != tt.wantOut {
				t.Errorf("parseNetstat = %d, %d, %v; want %d, %d, error %v", in, out, err, tt.wantIn, tt.wantOut, tt.wantErr)
			}
		})
	}
}
