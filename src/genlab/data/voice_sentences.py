"""The sentences the built-in voice datasets read (plain English, everyday words a recogniser knows).

``voices`` (espeak-ng) reads SHORT: A the first 24, B the next 24, both the last 12.
``recorded-voices`` (festival) adds MORE: A reads SHORT[:24] + MORE[:30], B SHORT[24:48] + MORE[30:60],
and both read SHORT[48:] + MORE[60:] (20 held-out sentences), so no training sentence is read by both.
"""

SHORT = [
    # read by voice A for training
    "The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore.",
    "A cup of warm tea helps me think.", "The train leaves the station at noon.",
    "My brother plays the guitar every evening.", "Rain fell softly on the tin roof.",
    "Please close the window before you leave.", "The old clock in the hall stopped at midnight.",
    "We planted tomatoes in the garden last spring.", "He forgot his umbrella on the bus.",
    "The children built a castle out of sand.", "A bright moon rose over the quiet lake.",
    "Turn left at the bakery and walk two blocks.", "The library opens early on Saturday.",
    "Our neighbour keeps three noisy geese.", "The soup needs a little more salt.",
    "Bring a warm coat, the night will be cold.", "The painter mixed blue and yellow to make green.",
    "Five small boats sailed into the harbour.", "I can hear the birds singing outside.",
    "The baker sells fresh bread every morning.", "They walked along the river until sunset.",
    "The kettle whistled loudly in the kitchen.", "A gentle wind moved the tall grass.",
    # read by voice B for training
    "The museum shows paintings from many countries.", "Her cat sleeps on the sunny windowsill.",
    "We missed the first bus and waited an hour.", "The farmer counted his sheep twice.",
    "A red kite flew high above the hill.", "The doctor asked him to rest for a week.",
    "Snow covered the village during the night.", "The band practised in the empty garage.",
    "Fresh lemons make the best lemonade.", "The pilot greeted the passengers warmly.",
    "My grandmother tells wonderful stories.", "The road to the coast winds through the forest.",
    "Someone left the lights on in the office.", "The team celebrated their first victory.",
    "Thick fog rolled in from the sea.", "The student solved the puzzle in minutes.",
    "A small dog barked at the postman.", "The market is busy on Friday afternoons.",
    "He painted the fence a bright white.", "The stars were clear above the desert.",
    "Water the plants before the sun gets hot.", "The letter arrived three days late.",
    "We cooked dinner over an open fire.", "The mountain path was steep and narrow.",
    # read by both voices, for evaluation only
    "The engineer fixed the broken bridge.", "Light travels faster than sound.",
    "Please pass me the bowl of cherries.", "The orchestra tuned their instruments quietly.",
    "A yellow taxi stopped at the corner.", "The sailors sang as they pulled the ropes.",
    "My friend lost her keys in the park.", "The wooden chair creaked under his weight.",
    "Bees buzzed around the flowering tree.", "The shop closes at six in the evening.",
    "Listen carefully to the teacher's words.", "An owl called from the dark woods.",
]

MORE = [
    # voice A, training
    "The boy opened the door and ran outside.", "We need more paper for the printer.",
    "The cold water made her hands numb.", "A tall man stood by the gate.",
    "The car would not start this morning.", "She wrote a long letter to her mother.",
    "The dinner was ready at seven o'clock.", "He found a coin under the sofa.",
    "The girls played football in the rain.", "Put the books back on the shelf.",
    "The house on the hill is very old.", "I will meet you at the station.",
    "The green apples taste a little sour.", "Our teacher gave us a short test.",
    "The sun was hot and the sky was blue.", "He drove the truck to the farm.",
    "The phone rang twice and then stopped.", "We watched a film about the ocean.",
    "The river was too deep to cross.", "She bought a new dress for the party.",
    "The horse jumped over the wooden fence.", "Please turn off the television.",
    "The little bird built a nest in the tree.", "They sold their house and moved away.",
    "The coffee is too strong for me.", "A black cat sat on the wall.",
    "The workers finished the new road.", "He lost his hat in the strong wind.",
    "The garden is full of roses in June.", "My sister works in a big hospital.",
    # voice B, training
    "The bus was late because of the snow.", "He keeps his tools in a red box.",
    "The baby slept through the whole night.", "We ate lunch by the side of the lake.",
    "The old man walked slowly up the hill.", "She plays the piano very well.",
    "The fish swam under the little bridge.", "Open the box and look inside.",
    "The room was dark and very quiet.", "He gave the dog a large bone.",
    "The shoes are under the bed.", "The plane landed safely in the storm.",
    "We have three chairs and one table.", "The milk is in the fridge.",
    "The king lived in a great castle.", "She cut the bread with a sharp knife.",
    "The leaves turn brown in the fall.", "My father reads the paper every day.",
    "The ship sailed across the wide sea.", "Please write your name at the top.",
    "The boys climbed the tree in the yard.", "I heard a loud noise in the street.",
    "The nurse gave him a glass of water.", "Our school has a large green field.",
    "The wind blew the papers off the desk.", "She found her ring in the sand.",
    "The chicken laid an egg this morning.", "The town has one small church.",
    "He sat by the fire and read a book.", "The price of food went up again.",
    # read by both voices, for evaluation only
    "The children walked home from school.", "He washed the dishes after dinner.",
    "The door was open and the room was empty.", "She made a cake for his birthday.",
    "The cows stood in the green field.", "We left the city early in the morning.",
    "The water in the pool was warm.", "The man carried a heavy bag up the stairs.",
]
