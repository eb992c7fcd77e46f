OK_FORMAT = True

test = {   'name': 'q2',
    'points': None,
    'suites': [   {   'cases': [   {   'code': '>>> assert recall_at_1(torch.eye(4), torch.eye(4)) == 1.0\n>>> assert recall_at_1(torch.eye(4), torch.eye(4).roll(1, dims=0)) == 0.0\n',
                                       'hidden': False,
                                       'locked': False,
                                       'points': 1}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
